package controller

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// metrics are what the controller counts, on a registry of its own (no
// process-wide default: two controllers in one test process must not
// collide).
type metrics struct {
	registry *prometheus.Registry
	maps     *prometheus.CounterVec // by run (cleanup, sweep), decision and reason
	apps     prometheus.Counter
	failures *prometheus.CounterVec // runs that ended with an error, by run
	retries  *prometheus.CounterVec // by kind: retried, throttled
	leak     prometheus.Histogram
	leader   prometheus.Gauge

	mu    sync.Mutex
	ended map[App]endSeen // when each queued application was seen to end
	seen  uint64          // counts sawEnd calls, to tell an end seen again
	ready atomic.Bool
}

func newMetrics(queueDepth func() int) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(), ended: map[App]endSeen{}}
	m.maps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sparkcm_hook_configmaps_total",
		Help: "ConfigMaps decided, by run (cleanup: the work queue's, sweep: the fallback), decision (deleted, would-delete, skipped, failed) and, for a skipped map, reason: the kind of reason it was kept for (in-use, running, too-young, ...)."},
		[]string{"run", "decision", "reason"})
	m.apps = prometheus.NewCounter(prometheus.CounterOpts{Name: "sparkcm_hook_applications_cleaned_total",
		Help: "Applications whose cleanup deleted every map it found of them."})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sparkcm_hook_run_errors_total",
		Help: "Cleanups and sweeps that ended with an error (an application still running is not one)."}, []string{"run"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sparkcm_hook_api_retries_total",
		Help: "API answers that turned a request away for a while and were retried (kind retried: 429, 5xx, broken connections; kind throttled: the 429s among them)."},
		[]string{"kind"})
	m.leak = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sparkcm_hook_leak_seconds",
		Help:    "Seconds from the moment the controller saw an application end to the end of the cleanup that left none of its maps.",
		Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 300, 1800}})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "sparkcm_hook_leader", Help: "1 while this replica leads (cleans, sweeps, stamps)."})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sparkcm_hook_queue_depth", Help: "Applications waiting in the work queue."},
		func() float64 { return float64(queueDepth()) })
	m.registry.MustRegister(m.maps, m.apps, m.failures, m.retries, m.leak, m.leader, depth)
	return m
}

// endSeen is when an application was first seen to end, and the latest
// time it was seen again (as a sequence number).
type endSeen struct {
	at   time.Time
	last uint64
}

// sawEnd notes when an application was first seen to end.
func (m *metrics) sawEnd(a App) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen++
	e, ok := m.ended[a]
	if !ok {
		e.at = time.Now()
	}
	e.last = m.seen
	m.ended[a] = e
}

// mark is the sequence number of what has been seen so far, taken before a
// cleanup starts.
func (m *metrics) mark() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen
}

// forget drops an application a cleanup found still running, unless its
// end was seen again after mark (while that cleanup ran): the queue then
// cleans it once more, and the time counts from the first sight.
func (m *metrics) forget(a App, mark uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.ended[a]; ok && e.last <= mark {
		delete(m.ended, a)
	}
}

// tally counts a run's maps by decision and, for a skipped one, the kind
// of reason it was kept for (hook.Entry.Keep).
type tally map[[2]string]int

// A dry run's deletes are already hook.WouldDelete, and only a skipped
// entry has a Keep.
func (t tally) add(e hook.Entry) { t[[2]string{string(e.Decision), string(e.Keep)}]++ }

// tallyOf counts a result that lists its entries (a cleanup's).
func tallyOf(res *hook.Result) tally {
	t := tally{}
	for _, list := range [][]hook.Entry{res.Deleted, res.Skipped, res.Failed} {
		for _, e := range list {
			t.add(e)
		}
	}
	return t
}

// count adds one run's result; t is its maps (the sweep hands its
// entries to a Record that tallies them, keeping none), nil to tally the
// entries res lists.
func (m *metrics) count(run string, res *hook.Result, t tally, err error) {
	var running *hook.StillRunningError
	if err != nil && !errors.As(err, &running) {
		m.failures.WithLabelValues(run).Inc()
	}
	if res == nil {
		return
	}
	if t == nil {
		t = tallyOf(res)
	}
	deleted := string(hook.Deleted)
	if res.DryRun {
		deleted = string(hook.WouldDelete)
	}
	// Every run that returned shows its deleted and failed series, at
	// zero too; skipped maps are counted only under their reasons.
	m.maps.WithLabelValues(run, deleted, "").Add(0)
	m.maps.WithLabelValues(run, string(hook.Failed), "").Add(0)
	for k, n := range t {
		m.maps.WithLabelValues(run, k[0], k[1]).Add(float64(n))
	}
	m.retries.WithLabelValues("retried").Add(float64(res.Retries))
	m.retries.WithLabelValues("throttled").Add(float64(res.Throttled))
}

// cleaned notes an application's cleanup that left none of its maps.
func (m *metrics) cleaned(a App, res *hook.Result, err error) {
	if err != nil || res == nil || res.Counts.Deleted == 0 || res.Counts.Skipped > 0 || res.Counts.Failed > 0 {
		return
	}
	m.apps.Inc()
	m.mu.Lock()
	since, ok := m.ended[a]
	delete(m.ended, a)
	m.mu.Unlock()
	if ok {
		m.leak.Observe(time.Since(since.at).Seconds())
	}
}

// serve answers /healthz (the process serves), /readyz (its informers
// have synced) and /metrics on l until ctx ends.
func (m *metrics) serve(ctx context.Context, l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !m.ready.Load() {
			http.Error(w, "informers not synced yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	_ = srv.Serve(l)
}
