package hook_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func sweep(t *testing.T, c hook.Clients, o hook.SweepOptions) (*hook.Result, error) {
	t.Helper()
	return hook.Sweep(ctxFor(t), c, testLog(t), o)
}

// sweepWorld is a namespace the way users find it: finished applications of
// every Spark flavour, a running one, maps in use, user-supplied, kept and
// unrelated maps.
type sweepWorld struct {
	ns                                     string
	finished                               []*sparkfixture.App
	running                                *sparkfixture.App
	legacy                                 *sparkfixture.App
	inUse, userMaps, kept, coOwned, others []string
}

func newSweepWorld(t *testing.T) *sweepWorld {
	w := &sweepWorld{ns: cp.NewNamespace(t)}
	ns := w.ns
	w.finished = []*sparkfixture.App{
		newApp(t, ns, sparkfixture.Spec{PodTemplate: true, Hadoop: true, Krb5: true, Executors: 2}),
		newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateFailed, UserSparkConfigMap: "team-defaults", UserHadoopConfigMap: "team-hadoop-config"}),
		newApp(t, ns, sparkfixture.Spec{Pre31: true}),
		newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, PodTemplate: true}),
		newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateSubmissionFailed, DriverPhase: corev1.PodFailed}),
	}
	// Spark 3.1.1 left its executor map without an owner, as every
	// client-mode application does: only --orphan-older-than (7 days by
	// default) lets it go; its driver-owned map goes as usual.
	w.legacy = newApp(t, ns, sparkfixture.Spec{LegacyExecutorOwner: true})
	w.finished = append(w.finished, w.legacy)
	// User-supplied maps carry no Spark ownership; one even has a name
	// Spark could have generated.
	w.userMaps = []string{"team-defaults", "team-hadoop-config"}
	// A running application: its executor map stays although no Pod mounts
	// it (no executor has started yet).
	w.running = newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	// A finished application whose driver map a running notebook Pod reads.
	used := newApp(t, ns, sparkfixture.Spec{})
	createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "notebook"}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{cmVolume(used.DriverConfMap)}}}, corev1.PodRunning)
	w.inUse = []string{used.DriverConfMap}
	w.finished = append(w.finished, used)
	// A finished application with its maps marked to keep or co-owned.
	marked := newApp(t, ns, sparkfixture.Spec{})
	kube, _ := admin(t)
	m, err := kube.CoreV1().ConfigMaps(ns).Get(ctxFor(t), marked.DriverConfMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Annotations = map[string]string{rule.AnnotationKeep: "true"}
	if _, err := kube.CoreV1().ConfigMaps(ns).Update(ctxFor(t), m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.kept = []string{marked.DriverConfMap}
	m, err = kube.CoreV1().ConfigMaps(ns).Get(ctxFor(t), marked.ExecutorConfMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "keeper", UID: types.UID("11111111-2222-3333-4444-555555555555")})
	if _, err := kube.CoreV1().ConfigMaps(ns).Update(ctxFor(t), m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.coOwned = []string{marked.ExecutorConfMap}
	w.finished = append(w.finished, marked)
	createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "airflow-settings"}})
	createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "spark-exec-0123456789abcdef-conf-map"}}) // Spark's name, no owner, no label
	w.others = []string{"airflow-settings", "spark-exec-0123456789abcdef-conf-map"}
	return w
}

// deletable is what a sweep must delete: every generated map of the
// finished applications except those in use, kept or co-owned.
func (w *sweepWorld) deletable() []string {
	var out []string
	for _, a := range w.finished {
		out = append(out, a.MapNames()...)
	}
	keep := append(append(append([]string{}, w.inUse...), w.kept...), w.coOwned...)
	keep = append(keep, w.legacy.ExecutorConfMap)
	return without(out, keep...)
}

func (w *sweepWorld) mustSurvive() []string {
	out := append(append(append(append(append([]string{}, w.inUse...), w.kept...), w.coOwned...), w.userMaps...), w.others...)
	out = append(out, w.legacy.ExecutorConfMap)
	return append(out, w.running.MapNames()...)
}

func TestSweepDeletesEveryFinishedApplicationsMapsAndKeepsEverythingElse(t *testing.T) {
	w := newSweepWorld(t)
	_, c := admin(t)
	before := mapNames(t, w.ns)
	res, err := sweep(t, c, hook.SweepOptions{Namespace: w.ns, OlderThan: 0, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), sorted(w.deletable()); !equal(got, want) {
		t.Fatalf("deleted %v\nwant %v", got, want)
	}
	if got, want := mapNames(t, w.ns), without(before, w.deletable()...); !equal(got, want) {
		t.Fatalf("left %v\nwant %v", got, want)
	}
	reasons := skipReasons(res)
	for _, n := range w.mustSurvive() {
		if !contains(mapNames(t, w.ns), n) {
			t.Errorf("%s was deleted", n)
		}
	}
	for name, want := range map[string]string{
		w.inUse[0]:                "in use by Pod notebook (Running)",
		w.kept[0]:                 "sparkcm-hook/keep",
		w.coOwned[0]:              "has another owner (StatefulSet keeper)",
		w.running.ExecutorConfMap: "application still running",
		w.running.DriverConfMap:   "application still running",
		"team-hadoop-config":      "no evidence",
		w.others[1]:               "no evidence",
		w.legacy.ExecutorConfMap:  "less than the ownerless-map minimum age 168h0m0s",
	} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("%s: reason %q, want %q", name, reasons[name], want)
		}
	}
	// The ledger has one record per Spark-looking map, each with a decision.
	for _, e := range append(append(res.Deleted, res.Skipped...), res.Failed...) {
		if e.UID == "" || e.Decision == "" {
			t.Errorf("ledger record without uid or decision: %+v", e)
		}
	}
	again, err := sweep(t, c, hook.SweepOptions{Namespace: w.ns})
	if err != nil || len(again.Deleted) != 0 {
		t.Fatalf("second sweep: %v, deleted %v", err, names(again.Deleted))
	}
}

func TestSweepDryRunDeletesNothingAndReportsTheSame(t *testing.T) {
	w := newSweepWorld(t)
	_, c := admin(t)
	before := mapUIDs(t, w.ns)
	res, err := sweep(t, c, hook.SweepOptions{Namespace: w.ns, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), sorted(w.deletable()); !equal(got, want) {
		t.Fatalf("would delete %v\nwant %v", got, want)
	}
	for _, e := range res.Deleted {
		if e.Decision != hook.WouldDelete {
			t.Fatalf("dry run recorded %s as %s", e.Name, e.Decision)
		}
	}
	if after := mapUIDs(t, w.ns); len(after) != len(before) {
		t.Fatalf("dry run changed maps")
	}
}

func TestSweepDeletesMapsWhoseOwnerPodIsGone(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, PodTemplate: true})
	deletePod(t, ns, app.DriverPod) // no garbage collector runs here
	_, c := admin(t)
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

func TestSweepKeepsMapsYoungerThanOlderThan(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	_, c := admin(t)
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || len(res.Skipped) != len(app.MapNames()) || !strings.Contains(res.Skipped[0].Reason, "younger than") {
		t.Fatalf("deleted %v skipped %+v", names(res.Deleted), res.Skipped)
	}
	// Measured from the application's end where known: a clock an hour
	// ahead makes them old enough.
	res, err = sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: time.Hour, Now: func() time.Time { return time.Now().Add(61 * time.Minute) }})
	if err != nil || len(res.Deleted) != len(app.MapNames()) {
		t.Fatalf("err %v deleted %v", err, names(res.Deleted))
	}
}

func TestSweepKeepsAMapThatBecomesUsedBetweenListingAndDeleting(t *testing.T) {
	ns := cp.NewNamespace(t)
	var apps []*sparkfixture.App
	for i := 0; i < 3; i++ {
		apps = append(apps, newApp(t, ns, sparkfixture.Spec{}))
	}
	// The last map in the sweep's order; it gets a user only after the
	// sweep has listed and judged everything and started deleting.
	target := sorted(append(append(apps[0].MapNames(), apps[1].MapNames()...), apps[2].MapNames()...))
	late := target[len(target)-1]
	kube, _ := admin(t)
	var created atomic.Bool
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete && created.CompareAndSwap(false, true) {
				_, err := kube.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "late-reader"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}, Volumes: []corev1.Volume{cmVolume(late)}}}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("create late reader: %v", err)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, BatchSize: 1, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(mapNames(t, ns), late) {
		t.Fatalf("%s was deleted although a Pod started using it before its batch", late)
	}
	if got, want := names(res.Deleted), without(target, late); !equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	if r := skipReasons(res)[late]; !strings.Contains(r, "in use by Pod late-reader") {
		t.Fatalf("reason %q", r)
	}
}

// The re-check before each batch of a sweep of all namespaces reads the
// Pods of the batch's namespaces only, and still sees a Pod that started
// using a map after the maps were judged.
func TestSweepAllNamespacesRechecksEachBatchInItsOwnNamespaces(t *testing.T) {
	a, b := cp.NewNamespace(t), cp.NewNamespace(t)
	appA, appB := newApp(t, a, sparkfixture.Spec{}), newApp(t, b, sparkfixture.Spec{})
	// A cluster-wide list returns namespaces in order: the last map of the
	// later one is deleted well after the first DELETE.
	lateNS, lateApp := b, appB
	if b < a {
		lateNS, lateApp = a, appA
	}
	late := sorted(lateApp.MapNames())[len(lateApp.MapNames())-1]
	kube, _ := admin(t)
	var (
		started  atomic.Bool
		mu       sync.Mutex
		podLists []string
	)
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete && started.CompareAndSwap(false, true) {
				_, err := kube.CoreV1().Pods(lateNS).Create(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "late-reader"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}, Volumes: []corev1.Volume{cmVolume(late)}}}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("create late reader: %v", err)
				}
			}
			if started.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pods") {
				mu.Lock()
				podLists = append(podLists, r.URL.Path)
				mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := sweep(t, c, hook.SweepOptions{AllNamespaces: true, BatchSize: 1, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(mapNames(t, lateNS), late) {
		t.Fatalf("%s/%s was deleted although a Pod started using it before its batch", lateNS, late)
	}
	if r := skipReasons(res)[late]; !strings.Contains(r, "in use by Pod late-reader") {
		t.Fatalf("reason %q", r)
	}
	if len(podLists) == 0 {
		t.Fatal("no re-check read the Pods")
	}
	for _, path := range podLists {
		if !strings.Contains(path, "/namespaces/") {
			t.Fatalf("a re-check of a batch in one namespace read every Pod of the cluster: GET %s", path)
		}
	}
}

func TestSweepAllNamespacesCoversEachNamespace(t *testing.T) {
	a, b := cp.NewNamespace(t), cp.NewNamespace(t)
	appA := newApp(t, a, sparkfixture.Spec{})
	appB := newApp(t, b, sparkfixture.Spec{State: sparkfixture.StateFailed})
	_, c := admin(t)
	res, err := sweep(t, c, hook.SweepOptions{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, e := range res.Deleted {
		deleted[e.Namespace+"/"+e.Name] = true
	}
	for _, want := range []string{a + "/" + appA.DriverConfMap, b + "/" + appB.ExecutorConfMap} {
		if !deleted[want] {
			t.Errorf("-A did not delete %s", want)
		}
	}
	if len(mapNames(t, a)) != 0 || len(mapNames(t, b)) != 0 {
		t.Errorf("maps left: %v %v", mapNames(t, a), mapNames(t, b))
	}
}

func TestSweepPagesThroughMoreMapsThanOnePage(t *testing.T) {
	ns := cp.NewNamespace(t)
	want := bulkMaps(t, ns, 60)
	requests := &requestLog{}
	counted := clientsFor(t, cp.Get(t).AdminConfig(), requests.wrap)
	res, err := sweep(t, counted, hook.SweepOptions{Namespace: ns, PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(want)) {
		t.Fatalf("deleted %d maps, want %d", len(got), len(want))
	}
	// 60 maps in pages of 7 take at least 9 list requests for the maps alone.
	if requests.count[http.MethodGet] < 9 {
		t.Fatalf("only %d GETs: the maps were not paged", requests.count[http.MethodGet])
	}
}

// A sweep that streams its ledger (Record set, as the command line always
// runs it) holds no entries, but still names the applications whose maps
// it deleted, the same ids a sweep that keeps its entries names.
func TestSweepNamesTheApplicationsItDeletedForAlsoWhenItStreamsTheLedger(t *testing.T) {
	ns := cp.NewNamespace(t)
	a := newApp(t, ns, sparkfixture.Spec{})
	b := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateFailed})
	running := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	_, c := admin(t)
	var mu sync.Mutex
	var streamed []hook.Entry
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, DryRun: true, Record: func(e hook.Entry) {
		mu.Lock()
		defer mu.Unlock()
		streamed = append(streamed, e)
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := sorted([]string{a.AppID, b.AppID})
	if !equal(res.AppIDs, want) {
		t.Errorf("streamed sweep names applications %v, want %v (not %s, still running)", res.AppIDs, want, running.AppID)
	}
	if len(streamed) == 0 || len(res.Deleted) != 0 {
		t.Fatalf("entries streamed %d, held %d: want all streamed", len(streamed), len(res.Deleted))
	}
	held, err := sweep(t, c, hook.SweepOptions{Namespace: ns, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !equal(held.AppIDs, res.AppIDs) {
		t.Errorf("a sweep that keeps its entries names %v, the streamed one %v", held.AppIDs, res.AppIDs)
	}
}
