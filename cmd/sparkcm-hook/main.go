// Command sparkcm-hook deletes the ConfigMaps Spark on Kubernetes leaves behind, and
// only those.
package main

import (
	"os"
	"runtime/debug"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless GOMEMLIMIT
// says otherwise. A sweep's live heap is a few hundred bytes per map, but the
// API server answers every DELETE with the whole map (often tens of KiB):
// without a limit the garbage collector lets that churn double the heap
// before it runs. The limit is soft, so a larger namespace is not refused,
// only collected more often.
const defaultMemoryLimit = 32 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(Run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
