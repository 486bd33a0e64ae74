package hook

import "time"

// Defaults of the options: a zero field in CleanupOptions, SweepOptions or
// WatchOptions means the value here. The command line shows these same
// values in --help, so they are written down once.
const (
	DefaultCleanupConcurrency = 8                // deletes in flight in one cleanup
	DefaultSweepConcurrency   = 32               // deletes in flight in a sweep
	DefaultSweepBatchSize     = 500              // deletes per fresh read of the Pods that use maps
	DefaultPageSize           = 500              // items per list page
	DefaultGrace              = 20 * time.Second // the sidecar's last cleanup after SIGTERM
)
