package hook

import (
	"context"
	"log/slog"
	"time"
)

// DefaultDriverContainer is the name Spark gives the driver's container.
const DefaultDriverContainer = "spark-kubernetes-driver"

// WatchOptions configures the sidecar mode.
type WatchOptions struct {
	Namespace string
	// Pod is the driver Pod the sidecar runs in.
	Pod string
	// Container is the driver container to wait for (default
	// spark-kubernetes-driver).
	Container   string
	DryRun      bool
	Concurrency int
	Retry       RetryPolicy
	NoEvent     bool
	// Grace bounds the last cleanup after ctx ends (SIGTERM): the kubelet
	// kills the sidecar after the Pod's grace period (30s by default).
	Grace time.Duration
}

// forever is how long the sidecar is willing to wait for the driver.
const forever = 100 * 365 * 24 * time.Hour

// Watch is the sidecar mode: it watches the driver Pod (reconnecting when a
// watch ends) until the driver container or the application terminates,
// then runs the same cleanup as Cleanup, treating the driver as finished
// although the sidecar keeps its Pod running. When ctx ends first (SIGTERM),
// it cleans up only if the driver has already terminated, within Grace, and
// otherwise returns *StillRunningError at once, having deleted nothing.
func Watch(ctx context.Context, c Clients, log *slog.Logger, o WatchOptions) (*Result, error) {
	if o.Container == "" {
		o.Container = DefaultDriverContainer
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	co := CleanupOptions{
		Namespace: o.Namespace, DriverPod: o.Pod, DriverContainer: o.Container,
		DryRun: o.DryRun, Concurrency: o.Concurrency, Retry: o.Retry, NoEvent: o.NoEvent,
		Wait: forever,
	}
	if err := co.validate(); err != nil {
		return &Result{Namespace: o.Namespace}, err
	}
	log = log.With("mode", "sidecar", "pod", o.Pod, "container", o.Container)
	log.Info("watching the driver until it terminates")
	res, err := Cleanup(ctx, c, log, co)
	if ctx.Err() == nil {
		return res, err
	}
	// Stopped before the cleanup was done: one fresh look, bounded by the
	// grace period. A driver still running keeps everything.
	log.Info("stopping; cleaning up only if the driver has already terminated", "grace", o.Grace)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Grace)
	defer cancel()
	co.Wait = 0
	co.Retry.Budget = o.Grace
	return Cleanup(fctx, c, log, co)
}
