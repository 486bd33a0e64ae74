package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/controller"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/apachefixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// cp is one real control plane (etcd + kube-apiserver, no
// controller-manager: nothing but the controller under test deletes maps)
// shared by this package's tests; each test works in its own namespace.
// Both operators' SparkApplication CRDs are installed, as on a cluster
// that runs both.
var cp = kubecluster.NewShared(kubecluster.Options{ApacheCRD: true})

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
	return presentOn(t, kube, ns, names)
}

// presentOn is which of names exist in ns, on the control plane of kube.
func presentOn(t *testing.T, kube kubernetes.Interface, ns string, names []string) []string {
	t.Helper()
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
	// done is closed once the controller's Run has returned.
	done chan struct{}
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
	r, _ := run(t, c, o)
	waitFor(t, "the first fallback sweep", r.swept)
	return r
}

// run runs the controller until the test ends or stop is called (which
// returns once it has).
func run(t *testing.T, c hook.Clients, o controller.Options) (r *recorder, stop func()) {
	t.Helper()
	done := make(chan struct{})
	r = &recorder{done: done}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		if _, err := controller.Run(ctx, c, testLog(), r.options(o)); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return r, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, c, controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour, Listener: l})
	base := "http://" + l.Addr().String()
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+path); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}

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
	operatedApp := controller.App{Namespace: ns, SparkApp: operated.Name, Operator: hook.OperatorKubeflow}
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
	// The metrics say the same: two applications cleaned, each map once,
	// the time from each end to its last map gone, this replica leading.
	// A cleanup counts once it has returned, after its deletes and its
	// Event: the metrics are waited for as the maps were.
	deleted := len(plain.MapNames()) + len(operated.MapNames())
	wants := []string{
		"sparkcm_hook_applications_cleaned_total 2\n",
		fmt.Sprintf("sparkcm_hook_configmaps_total{decision=\"deleted\",reason=\"\",run=\"cleanup\"} %d\n", deleted),
		"sparkcm_hook_leak_seconds_count 2\n",
		"sparkcm_hook_leader 1\n",
		"sparkcm_hook_queue_depth ",
		"sparkcm_hook_configmaps_total{decision=\"skipped\",reason=\"",
	}
	var metrics string
	_ = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, bound, true, func(context.Context) (bool, error) {
		_, metrics = get(t, base+"/metrics")
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				return false, nil
			}
		}
		return true, nil
	})
	for _, want := range wants {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.cleaned {
		if c.res != nil && len(c.res.Failed) > 0 {
			t.Errorf("cleanup of %s failed: %+v (%v)", c.app, c.res.Failed, c.err)
		}
	}
}

// TestTheControllerStampsAClientModeSessionSoTheSweepKeepsItsMapAfterItsExecutorsWent
// is the client-mode session idling at zero executors, with a controller
// running: an executor of an application with no driver Pod runs, the
// controller stamps the application's ownerless executor map
// last-active, Spark deletes the executor. A sweep soon after, with the
// map older than the orphan bound and no Pod of the application left,
// keeps the map; the same history without a stamp (an application whose
// executor no one saw) loses its map. The bound is 10s here so that the
// map is older than it after a short wait; the sweep's clock is set to 5s
// after the stamp, whatever the time the test took.
func TestTheControllerStampsAClientModeSessionSoTheSweepKeepsItsMapAfterItsExecutorsWent(t *testing.T) {
	ns := cp.NewNamespace(t)
	kube, c := admin(t)
	const (
		seenID, seenMap     = "spark-00112233445566778899aabbccddeeff", "spark-exec-00112233445566778899-conf-map"
		unseenID, unseenMap = "spark-ffeeddccbbaa99887766554433221100", "spark-exec-ffeeddccbbaa99887766-conf-map"
		bound               = 10 * time.Second
	)
	ctx := t.Context()
	var created time.Time
	for _, m := range [][2]string{{seenMap, seenID}, {unseenMap, unseenID}} {
		cm, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: m[0],
			Labels: map[string]string{rule.LabelAppSelector: m[1], rule.LabelRole: rule.RoleExecutor}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created = cm.CreationTimestamp.Time
	}
	// The fallback sweep's orphan bound is the test's: what the controller
	// must not do is delete the session's map before the stamp.
	start(t, c, controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: 0, OrphanOlderThan: time.Hour})
	waitFor(t, "the maps to be older than the bound", func() bool { return time.Since(created) > bound+time.Second })

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "seen-exec-1", Labels: map[string]string{rule.LabelAppSelector: seenID, rule.LabelRole: rule.RoleExecutor}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "executor", Image: "spark"}}}}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sparkfixture.SetPodPhase(ctx, kube, ns, pod.Name, corev1.PodRunning); err != nil {
		t.Fatal(err)
	}
	var stamped time.Time
	waitFor(t, "the controller to stamp the session's map", func() bool {
		m, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, seenMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stamped = rule.LastActive(&m.ObjectMeta)
		return !stamped.IsZero()
	})
	if err := kube.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the executor to go", func() bool {
		_, err := kube.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	res, err := hook.Sweep(ctx, c, testLog(), hook.SweepOptions{Namespace: ns, OlderThan: 0, OrphanOlderThan: bound,
		Now: func() time.Time { return stamped.Add(bound / 2) }})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, e := range res.Deleted {
		deleted = append(deleted, e.Name)
	}
	if !slices.Equal(deleted, []string{unseenMap}) {
		t.Errorf("the sweep deleted %v, want only %s (no stamp, older than the bound); %s was stamped %s", deleted, unseenMap, seenMap, stamped)
	}
}

// TestOnlyTheLeaderDeletesAndAnotherTakesOverWhenItDies runs two replicas
// electing a leader through a Lease. While the first leads, the second
// cleans and sweeps nothing; the first then dies without releasing the
// Lease (as a killed Pod does), and the second takes over once the Lease
// expires and cleans what ended since. Every map is deleted once, by one
// of them, and nothing fails.
func TestOnlyTheLeaderDeletesAndAnotherTakesOverWhenItDies(t *testing.T) {
	ns := cp.NewNamespace(t)
	kube, c := admin(t)
	first := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning, Executors: 1})
	second := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning, Executors: 1})
	elect := func(id string) func(context.Context, func(context.Context)) error {
		e := &controller.Elector{Leases: c.Kube.CoordinationV1().Leases(ns), Namespace: ns, Name: "sparkcm-hook-controller", Identity: id,
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond, KeepOnStop: true, Log: testLog()}
		return e.Run
	}
	o := controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour}
	oa, ob := o, o
	oa.Lead, ob.Lead = elect("replica-a"), elect("replica-b")
	a, stopA := run(t, c, oa)
	waitFor(t, "replica-a to lead (its first sweep)", a.swept)
	b, _ := run(t, c, ob)

	end := func(app *sparkfixture.App) {
		t.Helper()
		for _, p := range slices.Concat(app.ExecutorPods, []string{app.DriverPod}) {
			if err := sparkfixture.SetPodPhase(t.Context(), kube, ns, p, corev1.PodSucceeded); err != nil {
				t.Fatal(err)
			}
		}
	}
	end(first)
	waitFor(t, "the first application's maps to go", func() bool { return len(present(t, ns, first.MapNames())) == 0 })
	b.mu.Lock()
	if len(b.cleaned) > 0 || b.sweeps > 0 {
		t.Errorf("the replica that does not lead cleaned %d applications and swept %d times", len(b.cleaned), b.sweeps)
	}
	b.mu.Unlock()

	// The leader dies; its Lease stays until it expires.
	stopA()
	end(second)
	waitFor(t, "the second application's maps to go", func() bool { return len(present(t, ns, second.MapNames())) == 0 })

	seen := map[string]string{}
	for who, r := range map[string]*recorder{"replica-a": a, "replica-b": b} {
		r.mu.Lock()
		for _, cl := range r.cleaned {
			if cl.res == nil {
				continue
			}
			if len(cl.res.Failed) > 0 {
				t.Errorf("%s: cleanup of %s failed: %+v", who, cl.app, cl.res.Failed)
			}
			for _, e := range cl.res.Deleted {
				if prev, ok := seen[e.Name]; ok {
					t.Errorf("map %s deleted by %s and again by %s", e.Name, prev, who)
				}
				seen[e.Name] = who
			}
		}
		r.mu.Unlock()
	}
	for _, m := range first.MapNames() {
		if seen[m] != "replica-a" {
			t.Errorf("map %s of the first application: deleted by %q, want replica-a", m, seen[m])
		}
	}
	for _, m := range second.MapNames() {
		if seen[m] != "replica-b" {
			t.Errorf("map %s of the second application: deleted by %q, want replica-b", m, seen[m])
		}
	}
	lease, err := kube.CoordinationV1().Leases(ns).Get(t.Context(), "sparkcm-hook-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != "replica-b" {
		t.Errorf("the Lease is held by %v, want replica-b", h)
	}
}

// cleanups counts the cleanups of the application the controller ran.
func (r *recorder) cleanups(a controller.App) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.cleaned {
		if c.app == a {
			n++
		}
	}
	return n
}

// TestTheControllerCleansAnApacheOperatorApplicationOnceItReachesAFinalState
// runs the controller where both operators' CRDs are installed, with an
// application named pi in each group. The Apache operator's pi ends as
// the operator ends it: its driver Pod terminates, the application reads
// Succeeded (not final: the operator may still restart it), the operator
// deletes the driver Pod, and only then writes ResourceReleased. The
// cleanups the driver's end and deletion trigger find it running; only
// the final state, which nothing but the Apache SparkApplication shows,
// tells the controller to clean it (the fallback sweep's bound keeps it
// away from these young maps). The Kubeflow pi runs on, keeping its maps,
// and so does another Apache application; when the Kubeflow pi completes,
// its cleanup names its operator, and its maps go too.
func TestTheControllerCleansAnApacheOperatorApplicationOnceItReachesAFinalState(t *testing.T) {
	ns := cp.NewNamespace(t)
	kube, c := admin(t)
	ctx := t.Context()
	op := apachefixture.Operator{Kube: kube, Dyn: c.Dynamic}
	launch := func(name string) *apachefixture.Attempt {
		t.Helper()
		if _, err := op.Create(ctx, ns, apachefixture.Spec{Name: name}); err != nil {
			t.Fatal(err)
		}
		a, err := op.Launch(ctx, ns, name, 0, apachefixture.Spec{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if err := op.Run(ctx, ns, name, 0); err != nil {
			t.Fatal(err)
		}
		return a
	}
	pi, other := launch("pi"), launch("other")
	kubeflowPi := newApp(t, ns, sparkfixture.Spec{Name: "pi", State: sparkfixture.StateRunning, Executors: 1})

	r := start(t, c, controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour})
	driver := controller.App{Namespace: ns, DriverPod: pi.Driver.Name}
	if err := apachefixture.SetPodPhase(ctx, kube, ns, pi.Driver.Name, corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cleanup the driver's end triggers", func() bool { return r.cleanups(driver) >= 1 })
	if err := op.SetState(ctx, ns, "pi", 0, apachefixture.Succeeded); err != nil {
		t.Fatal(err)
	}
	if err := kube.CoreV1().Pods(ns).Delete(ctx, pi.Driver.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pi.Driver.UID}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cleanup the driver's deletion triggers", func() bool { return r.cleanups(driver) >= 2 })
	if got := present(t, ns, pi.Maps); len(got) != len(pi.Maps) {
		t.Fatalf("before its final state, the Apache application's maps are %v, want all of %v", got, pi.Maps)
	}
	if err := op.SetState(ctx, ns, "pi", 0, apachefixture.ResourceReleased); err != nil {
		t.Fatal(err)
	}
	apachePi := controller.App{Namespace: ns, SparkApp: "pi", Operator: hook.OperatorApache}
	waitFor(t, "the Apache application's maps to go", func() bool { return len(present(t, ns, pi.Maps)) == 0 })
	if got := r.deletedBy(apachePi); !slices.Equal(sortedCopy(got), pi.Maps) {
		t.Errorf("the cleanups of %s deleted %v, want %v", apachePi, got, pi.Maps)
	}
	if got := present(t, ns, kubeflowPi.MapNames()); len(got) != len(kubeflowPi.MapNames()) {
		t.Errorf("the running Kubeflow application's maps are %v, want all of %v", got, kubeflowPi.MapNames())
	}
	if got := present(t, ns, other.Maps); len(got) != len(other.Maps) {
		t.Errorf("the running Apache application's maps are %v, want all of %v", got, other.Maps)
	}

	for _, p := range slices.Concat(kubeflowPi.ExecutorPods, []string{kubeflowPi.DriverPod}) {
		if err := sparkfixture.SetPodPhase(ctx, kube, ns, p, corev1.PodSucceeded); err != nil {
			t.Fatal(err)
		}
	}
	if err := sparkfixture.SetState(ctx, c.Dynamic, ns, "pi", sparkfixture.StateCompleted); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Kubeflow application's maps to go", func() bool { return len(present(t, ns, kubeflowPi.MapNames())) == 0 })
	if got := present(t, ns, other.Maps); len(got) != len(other.Maps) {
		t.Errorf("the running Apache application's maps are %v, want all of %v", got, other.Maps)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sweeps != 1 {
		t.Errorf("%d fallback sweeps ran, want only the first", r.sweeps)
	}
	for _, cl := range r.cleaned {
		if cl.res != nil && len(cl.res.Failed) > 0 {
			t.Errorf("cleanup of %s failed: %+v (%v)", cl.app, cl.res.Failed, cl.err)
		}
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
