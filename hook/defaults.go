package hook

import "time"

// Defaults of the options, all here: a zero field in CleanupOptions,
// SweepOptions, WatchOptions, ReportOptions or a RetryPolicy means the
// value here. The command line shows these same values in --help, so they
// are written down once.
const (
	DefaultCleanupConcurrency = 8                // deletes in flight in one cleanup
	DefaultSweepConcurrency   = 32               // deletes in flight in a sweep
	DefaultSweepBatchSize     = 500              // deletes per fresh read of the Pods that use maps
	DefaultPageSize           = 500              // items per list page
	DefaultGrace              = 20 * time.Second // the sidecar's last cleanup after SIGTERM
)

// DefaultOrphanOlderThan is how long an ownerless executor map, and every
// Pod of its application, must have been quiet before sweep deletes it: a
// notebook's client-mode driver can idle at zero executors for days.
const DefaultOrphanOlderThan = 7 * 24 * time.Hour

// DefaultTopApps is how many applications a report names by default.
const DefaultTopApps = 10

// DefaultRecheckBound is the longest a delete is sent after the last read
// of what it rests on: the Pods that use the map or belong to its
// application, and the application's state. The UID and resourceVersion
// preconditions cover only the map itself; a Pod that starts mounting it,
// or an application the operator runs again, changes nothing about the map.
// A delete that waited longer (behind the throttle, a 429's Retry-After, a
// retry's backoff) reads them again first. A few seconds: long enough for a
// re-read of a busy namespace's Pods, short beside the Retry-After of a
// throttled API server.
const DefaultRecheckBound = 3 * time.Second
