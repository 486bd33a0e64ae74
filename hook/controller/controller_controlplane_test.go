package controller_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/controller"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/testbed"
)

// cp is one real control plane (etcd + kube-apiserver, no
// controller-manager: nothing but the controller under test deletes maps)
// shared by this package's tests; each test works in its own namespace.
var cp = testbed.NewShared(testbed.Options{})

func TestMain(m *testing.M) { os.Exit(cp.RunMain(m)) }

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// bound is how long a test waits for a condition: generous, never an
// assertion on how long anything took.
const bound = 2 * time.Minute

func admin(t *testing.T) (kubernetes.Interface, hook.Clients) {
	t.Helper()
	cfg := rest.CopyConfig(cp.Get(t).AdminConfig())
	cfg.QPS, cfg.Burst = 1000, 2000
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hook.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube, c
}

func newApp(t *testing.T, ns string, spec sparkfixture.Spec) *sparkfixture.App {
	t.Helper()
	kube, c := admin(t)
	app, err := sparkfixture.Create(t.Context(), kube, c.Dynamic, ns, spec)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return app
}

// present is which of names exist in ns.
func present(t *testing.T, ns string, names []string) []string {
	t.Helper()
	kube, _ := admin(t)
	list, err := kube.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range list.Items {
		if slices.Contains(names, m.Name) {
			out = append(out, m.Name)
		}
	}
	return out
}

// recorder keeps what the controller reports.
type recorder struct {
	mu      sync.Mutex
	cleaned []cleaned
	sweeps  int
}

type cleaned struct {
	app controller.App
	res *hook.Result
	err error
}

func (r *recorder) options(o controller.Options) controller.Options {
	o.Cleaned = func(a controller.App, res *hook.Result, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.cleaned = append(r.cleaned, cleaned{a, res, err})
	}
	o.Swept = func(*hook.Result, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sweeps++
	}
	return o
}

func (r *recorder) swept() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sweeps > 0
}

// deletedBy lists the maps the cleanups of the application deleted.
func (r *recorder) deletedBy(a controller.App) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.cleaned {
		if c.app == a && c.res != nil {
			for _, e := range c.res.Deleted {
				out = append(out, e.Name)
			}
		}
	}
	return out
}

// start runs the controller until the test ends and returns once its
// first fallback sweep is done (its informers are then in sync).
func start(t *testing.T, c hook.Clients, o controller.Options) *recorder {
	t.Helper()
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := controller.Run(ctx, c, testLog(), r.options(o)); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the first fallback sweep", r.swept)
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, bound, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestTheControllerCleansAnApplicationOnceItEndsAndNothingWhileItRuns runs
// the controller over a namespace with running applications, then ends
// them one way each: a plain spark-submit's driver Pod terminates, a
// SparkApplication reaches COMPLETED after its driver. Each one's maps go
// through the controller's cleanups, with no call from outside; an
// application that keeps running keeps its maps, and so does the one
// whose driver ended while its SparkApplication still ran, until it did.
func TestTheControllerCleansAnApplicationOnceItEndsAndNothingWhileItRuns(t *testing.T) {
	ns := cp.NewNamespace(t)
	kube, c := admin(t)
	plain := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning, Executors: 1})
	operated := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1})
	running := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1})

	// The fallback sweep's bound keeps it away from these young maps: what
	// is deleted here, the work queue deleted.
	r := start(t, c, controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour})

	ctx := t.Context()
	for _, p := range slices.Concat(plain.ExecutorPods, []string{plain.DriverPod}) {
		if err := sparkfixture.SetPodPhase(ctx, kube, ns, p, corev1.PodSucceeded); err != nil {
			t.Fatal(err)
		}
	}
	plainApp := controller.App{Namespace: ns, DriverPod: plain.DriverPod}
	waitFor(t, "the plain application's maps to go", func() bool { return len(present(t, ns, plain.MapNames())) == 0 })
	if got := r.deletedBy(plainApp); len(got) != len(plain.MapNames()) {
		t.Errorf("the cleanups of %s deleted %v, want %v", plainApp, got, plain.MapNames())
	}

	// The driver ends first: its SparkApplication still says RUNNING, so
	// the cleanup it triggers finds the application running.
	for _, p := range slices.Concat(operated.ExecutorPods, []string{operated.DriverPod}) {
		if err := sparkfixture.SetPodPhase(ctx, kube, ns, p, corev1.PodSucceeded); err != nil {
			t.Fatal(err)
		}
	}
	operatedApp := controller.App{Namespace: ns, SparkApp: operated.Name}
	waitFor(t, "a cleanup of the operated application", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.ContainsFunc(r.cleaned, func(c cleaned) bool { return c.app == operatedApp })
	})
	if got := present(t, ns, operated.MapNames()); len(got) != len(operated.MapNames()) {
		t.Fatalf("with its SparkApplication RUNNING, the operated application's maps are %v, want all of %v", got, operated.MapNames())
	}
	if err := sparkfixture.SetState(ctx, c.Dynamic, ns, operated.Name, sparkfixture.StateCompleted); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the operated application's maps to go", func() bool { return len(present(t, ns, operated.MapNames())) == 0 })

	if got := present(t, ns, running.MapNames()); len(got) != len(running.MapNames()) {
		t.Errorf("the running application's maps are %v, want all of %v", got, running.MapNames())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.cleaned {
		if c.res != nil && len(c.res.Failed) > 0 {
			t.Errorf("cleanup of %s failed: %+v (%v)", c.app, c.res.Failed, c.err)
		}
	}
}
