package hook

import (
	"context"
	"log/slog"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

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

// reportLag bounds how long a stopped sidecar waits for the kubelet to
// report a driver container that had already ended. A native sidecar
// (an init container with restartPolicy Always) is sent SIGTERM as soon as
// the driver container exits, usually before the kubelet has written that
// exit to the API server.
const reportLag = 5 * time.Second

// Watch is the sidecar mode: it watches the driver Pod (reconnecting when a
// watch ends) until the driver container or the application terminates,
// then runs the same cleanup as Cleanup, treating the driver as finished
// although the sidecar keeps its Pod running. When ctx ends first (SIGTERM),
// it cleans up, within Grace, only if the driver container had terminated
// by then: it waits up to reportLag (at most a quarter of Grace) for the
// kubelet to report that end, and returns *StillRunningError, having deleted
// nothing, when the driver is still running after that or its reported end
// is later than the SIGTERM.
func Watch(ctx context.Context, c Clients, log *slog.Logger, o WatchOptions) (*Result, error) {
	if o.Container == "" {
		o.Container = rule.DefaultDriverContainer
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
	// The moment of the SIGTERM, taken when it happens rather than when the
	// running cleanup notices it.
	stopped := make(chan time.Time, 1)
	defer context.AfterFunc(ctx, func() { stopped <- time.Now() })()
	log.Info("watching the driver until it terminates")
	res, err := Cleanup(ctx, c, log, co)
	if ctx.Err() == nil {
		return res, err
	}
	// Stopped before the cleanup was done: a fresh look, bounded by the
	// grace period. A driver still running, or one that ended only after
	// the SIGTERM, keeps everything.
	co.stoppedAt = <-stopped
	log.Info("stopping; cleaning up only if the driver had terminated by then", "grace", o.Grace, "stoppedAt", co.stoppedAt)
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.Grace)
	defer cancel()
	co.Wait = min(reportLag, o.Grace/4)
	co.Retry.Budget = o.Grace - co.Wait
	return Cleanup(fctx, c, log, co)
}
