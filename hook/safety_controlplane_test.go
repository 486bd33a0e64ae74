package hook_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// Regression tests for the ways a live application's map could be
// deleted: each is named after its scenario.

func hex16(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// clientModeApp is what a client-mode driver (a notebook, a driver outside
// the cluster) leaves in the namespace: an ownerless executor map labelled
// with its id, and whatever executor Pods it has at the moment.
type clientModeApp struct {
	ns, id, execMap string
}

func newClientModeApp(t *testing.T, ns string) *clientModeApp {
	t.Helper()
	a := &clientModeApp{ns: ns, id: "spark-" + hex16(t) + hex16(t), execMap: "spark-exec-" + hex16(t) + "-conf-map"}
	createMap(t, ns, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: a.execMap, Labels: map[string]string{rule.LabelAppSelector: a.id, rule.LabelRole: rule.RoleExecutor}},
		Data:       map[string]string{"spark.properties": "spark.app.id=" + a.id},
	})
	return a
}

// executor starts an executor Pod of the application in phase, mounting
// the executor map as Spark's executors do.
func (a *clientModeApp) executor(t *testing.T, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	return createPod(t, a.ns, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{rule.LabelAppSelector: a.id, rule.LabelRole: rule.RoleExecutor}},
		Spec:       corev1.PodSpec{Volumes: []corev1.Volume{cmVolume(a.execMap)}},
	}, phase)
}

func TestSweepKeepsTheExecutorMapOfAClientModeApplicationIdlingAtZeroExecutors(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newClientModeApp(t, ns)
	_, c := admin(t)
	// Dynamic allocation with minExecutors=0: no executor Pod exists, and
	// nothing in the cluster shows that the notebook's driver is alive.
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || !contains(mapNames(t, ns), app.execMap) {
		t.Fatalf("deleted %v: an idle client-mode application lost its executor map", names(res.Deleted))
	}
	if r := skipReasons(res)[app.execMap]; !strings.Contains(r, "ownerless-map minimum age") {
		t.Fatalf("reason %q, want the orphan bound", r)
	}
	// Once the map and the application have been quiet longer than
	// --orphan-older-than, it goes.
	res, err = sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: 0, OrphanOlderThan: time.Nanosecond})
	if err != nil || !equal(names(res.Deleted), []string{app.execMap}) {
		t.Fatalf("err %v, deleted %v; want the quiet ownerless map", err, names(res.Deleted))
	}
}

func TestSweepKeepsAClientModeApplicationsMapWhileAnyOfItsPodsRuns(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newClientModeApp(t, ns)
	// A Running Pod of the application that does not mount the map: use
	// alone would not keep it, liveness must.
	createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "exec-no-mount", Labels: map[string]string{rule.LabelAppSelector: app.id, rule.LabelRole: rule.RoleExecutor}}}, corev1.PodRunning)
	_, c := admin(t)
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: 0, OrphanOlderThan: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("deleted %v while a Pod of the application runs", names(res.Deleted))
	}
	if r := skipReasons(res)[app.execMap]; !strings.Contains(r, "exec-no-mount") {
		t.Fatalf("reason %q, want the running Pod named", r)
	}
}

func TestSweepMeasuresAnOwnerlessMapsQuietFromTheNewestPodOfItsApplication(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newClientModeApp(t, ns)
	exec := app.executor(t, "exec-1", corev1.PodSucceeded)
	kube, c := admin(t)
	// The executor stopped at `stopped`; the sweep looks two hours later
	// with a one-hour orphan bound.
	setFinishedAt := func(stopped time.Time) {
		t.Helper()
		p, err := kube.CoreV1().Pods(ns).Get(ctxFor(t), exec.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, FinishedAt: metav1.NewTime(stopped)}}}}
		if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctxFor(t), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(2 * time.Hour)
	o := hook.SweepOptions{Namespace: ns, OlderThan: 0, OrphanOlderThan: time.Hour, Now: func() time.Time { return later }}
	setFinishedAt(later.Add(-30 * time.Minute))
	res, err := sweep(t, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("deleted %v: its executor stopped 30m before the sweep, inside the 1h bound", names(res.Deleted))
	}
	setFinishedAt(later.Add(-90 * time.Minute))
	res, err = sweep(t, c, o)
	if err != nil || !equal(names(res.Deleted), []string{app.execMap}) {
		t.Fatalf("err %v, deleted %v; want the map once everything was quiet for 90m", err, names(res.Deleted))
	}
}

func TestCleanupByAppIDOfAClientModeApplicationExitsStillRunningWhileAPodRuns(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newClientModeApp(t, ns)
	exec := app.executor(t, "exec-1", corev1.PodRunning)
	_, c := admin(t)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, AppID: app.id})
	var running *hook.StillRunningError
	if !errors.As(err, &running) || len(res.Deleted) != 0 || !contains(mapNames(t, ns), app.execMap) {
		t.Fatalf("err %v, deleted %v; want exit 4 and nothing deleted", err, names(res.Deleted))
	}
	if !strings.Contains(running.State, exec.Name) {
		t.Fatalf("state %q does not name the running Pod", running.State)
	}
	// The caller says the application is done and its Pods agree: the
	// ownerless map goes at once, without the orphan bound.
	kube, _ := admin(t)
	if err := sparkfixture.SetPodPhase(ctxFor(t), kube, ns, exec.Name, corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	res, err = cleanup(t, c, hook.CleanupOptions{Namespace: ns, AppID: app.id})
	if err != nil || !equal(names(res.Deleted), []string{app.execMap}) {
		t.Fatalf("err %v, deleted %v", err, names(res.Deleted))
	}
}

func TestCleanupWaitsForAClientModeApplicationsPodsWithWait(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newClientModeApp(t, ns)
	exec := app.executor(t, "exec-1", corev1.PodRunning)
	kube, _ := admin(t)
	// It waits by watching the application's Pods, not by reading them
	// again now and then: the end of the last executor is seen at once.
	var watchedPods atomic.Bool
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			if strings.HasSuffix(r.URL.Path, "/pods") && q.Get("watch") == "true" && strings.Contains(q.Get("labelSelector"), rule.LabelAppSelector) {
				watchedPods.Store(true)
			}
			return rt.RoundTrip(r)
		})
	})
	go func() {
		time.Sleep(2 * time.Second)
		if err := sparkfixture.SetPodPhase(context.Background(), kube, ns, exec.Name, corev1.PodSucceeded); err != nil {
			t.Errorf("finish executor: %v", err)
		}
	}()
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, AppID: app.id, Wait: time.Minute})
	if err != nil || !equal(names(res.Deleted), []string{app.execMap}) {
		t.Fatalf("err %v, deleted %v; want the map once the executor ended", err, names(res.Deleted))
	}
	if !watchedPods.Load() {
		t.Fatal("it waited without watching the application's Pods")
	}
}

// isMapList is the sweep's list of maps (not the one-item snapshot mark).
func isMapList(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && r.URL.Query().Get("limit") != "1" && r.URL.Query().Get("continue") == ""
}

func TestSweepKeepsTheMapsOfAnOwnerCreatedBetweenTheOwnerListsAndTheMapList(t *testing.T) {
	ns := cp.NewNamespace(t)
	old := newApp(t, ns, sparkfixture.Spec{})
	kube, admins := admin(t)
	var fresh atomic.Pointer[sparkfixture.App]
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isMapList(r) && fresh.Load() == nil {
				// The Pods and SparkApplications were read already: a new
				// application submits now, driver first, then its maps.
				app, err := sparkfixture.Create(context.Background(), kube, admins.Dynamic, ns, sparkfixture.Spec{State: sparkfixture.StateSubmitted, PodTemplate: true})
				if err != nil {
					t.Errorf("create the new application: %v", err)
				} else {
					fresh.Store(app)
					createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: app.Name + "-prom-conf",
						OwnerReferences: []metav1.OwnerReference{{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: app.Name, UID: app.SparkAppUID, Controller: ptrTo(true)}}}})
				}
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: 0})
	if err != nil {
		t.Fatal(err)
	}
	app := fresh.Load()
	if app == nil {
		t.Fatal("the map list was never intercepted")
	}
	if got := names(res.Deleted); !equal(got, sorted(old.MapNames())) {
		t.Fatalf("deleted %v, want only the old application's %v", got, old.MapNames())
	}
	for _, n := range append(app.MapNames(), app.Name+"-prom-conf") {
		if !contains(mapNames(t, ns), n) {
			t.Errorf("%s of the application submitted mid-sweep was deleted", n)
		}
		if r := skipReasons(res)[n]; !strings.Contains(r, "after its owners were read") {
			t.Errorf("%s: reason %q", n, r)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestSweepNeverDeletesAMapYoungerThanOlderThanWhateverItsApplicationSays(t *testing.T) {
	ns := cp.NewNamespace(t)
	// A SparkApplication restored from a backup (or re-applied by GitOps)
	// with the status of a run that ended two days ago; its maps are new.
	app := newApp(t, ns, sparkfixture.Spec{})
	_, c := admin(t)
	sa, err := c.Dynamic.Resource(store.SparkApplicationGVR).Namespace(ns).Get(ctxFor(t), app.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(sa.Object, time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339), "status", "terminationTime"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dynamic.Resource(store.SparkApplicationGVR).Namespace(ns).UpdateStatus(ctxFor(t), sa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("deleted %v: maps minutes old went because the status says the run ended two days ago", names(res.Deleted))
	}
	if r := skipReasons(res)[app.DriverConfMap]; !strings.Contains(r, "younger than the minimum age") {
		t.Fatalf("reason %q", r)
	}
}

// shiftDate makes the API server's clock, as its answers tell it, run by
// d: the tool must measure ages on that clock, not on the local one.
func shiftDate(d time.Duration) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil {
				if date, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
					resp.Header.Set("Date", date.Add(d).UTC().Format(http.TimeFormat))
				}
			}
			return resp, err
		})
	}
}

func TestSweepMeasuresAgesOnTheAPIServersClock(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	// The server's clock, seen through the Date of its answers, is two
	// hours behind this machine's: on the server's clock the maps are new.
	behind := clientsFor(t, cp.Get(t).AdminConfig(), shiftDate(-2*time.Hour))
	res, err := sweep(t, behind, hook.SweepOptions{Namespace: ns, OlderThan: time.Hour, Now: nil})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("deleted %v: ages were measured on the local clock", names(res.Deleted))
	}
	// Two hours ahead: on the server's clock the run ended two hours ago.
	ahead := clientsFor(t, cp.Get(t).AdminConfig(), shiftDate(2*time.Hour))
	res, err = sweep(t, ahead, hook.SweepOptions{Namespace: ns, OlderThan: time.Hour})
	if err != nil || !equal(names(res.Deleted), sorted(app.MapNames())) {
		t.Fatalf("err %v, deleted %v; want every map, two hours old on the server's clock", err, names(res.Deleted))
	}
}

// mutateBeforeFirstDelete changes a map just before the tool's first DELETE
// of it reaches the server, after the map was judged.
func mutateBeforeFirstDelete(t *testing.T, ns, name string, mutate func(*corev1.ConfigMap)) (hook.Clients, *atomic.Bool) {
	kube, _ := admin(t)
	var done atomic.Bool
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/configmaps/"+name) && done.CompareAndSwap(false, true) {
				m, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
				if err == nil {
					mutate(m)
					_, err = kube.CoreV1().ConfigMaps(ns).Update(context.Background(), m, metav1.UpdateOptions{})
				}
				if err != nil {
					t.Errorf("mutate %s: %v", name, err)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	return c, &done
}

func TestNeverDeletesAMapChangedAfterItWasJudged(t *testing.T) {
	mutations := map[string]func(*corev1.ConfigMap){
		"annotated keep": func(m *corev1.ConfigMap) {
			m.Annotations = map[string]string{rule.AnnotationKeep: "true"}
		},
		"given another owner": func(m *corev1.ConfigMap) {
			m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "keeper", UID: types.UID("11111111-2222-3333-4444-555555555555")})
		},
		"relabelled for another application": func(m *corev1.ConfigMap) {
			m.Labels = map[string]string{rule.LabelAppSelector: "spark-someone-else", rule.LabelRole: rule.RoleExecutor}
		},
	}
	for name, mutate := range mutations {
		for _, command := range []string{"cleanup", "sweep"} {
			t.Run(name+"/"+command, func(t *testing.T) {
				ns := cp.NewNamespace(t)
				app := newApp(t, ns, sparkfixture.Spec{})
				c, done := mutateBeforeFirstDelete(t, ns, app.ExecutorConfMap, mutate)
				var res *hook.Result
				var err error
				if command == "cleanup" {
					res, err = cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name, Concurrency: 1})
				} else {
					res, err = sweep(t, c, hook.SweepOptions{Namespace: ns, Concurrency: 1})
				}
				if err != nil {
					t.Fatal(err)
				}
				if !done.Load() {
					t.Fatal("the tool never tried to delete the executor map")
				}
				if !contains(mapNames(t, ns), app.ExecutorConfMap) {
					t.Fatalf("%s was deleted after it was %s", app.ExecutorConfMap, name)
				}
				if r := skipReasons(res)[app.ExecutorConfMap]; !strings.Contains(r, "changed since it was judged") {
					t.Fatalf("reason %q", r)
				}
				// A rerun judges it afresh and keeps it for its new reason.
				_, fresh := admin(t)
				if command == "cleanup" {
					res, err = cleanup(t, fresh, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
				} else {
					res, err = sweep(t, fresh, hook.SweepOptions{Namespace: ns})
				}
				if err != nil || contains(names(res.Deleted), app.ExecutorConfMap) || !contains(mapNames(t, ns), app.ExecutorConfMap) {
					t.Fatalf("rerun: err %v, deleted %v", err, names(res.Deleted))
				}
			})
		}
	}
}

// retryWithSameName leaves what an Airflow retry with
// random_name_suffix=False leaves: the first run's SparkApplication X was
// deleted, its driver Pod X-driver and maps are still there (the garbage
// collector is behind), and a new SparkApplication X exists in state.
func retryWithSameName(t *testing.T, ns, state string) (first *sparkfixture.App, promConf string, second types.UID) {
	t.Helper()
	first = newApp(t, ns, sparkfixture.Spec{Name: "daily-etl"})
	_, c := admin(t)
	sas := c.Dynamic.Resource(store.SparkApplicationGVR).Namespace(ns)
	// No garbage collector runs in this test bed: the driver Pod and the
	// maps stay, as when the collector is behind.
	background := metav1.DeletePropagationBackground
	if err := sas.Delete(ctxFor(t), first.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": first.Name, "namespace": ns},
		"spec": map[string]any{"type": "Scala", "mode": "cluster", "sparkVersion": "3.5.5", "mainClass": "org.apache.spark.examples.SparkPi",
			"mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar", "driver": map[string]any{}, "executor": map[string]any{}},
	}}
	created, err := sas.Create(ctxFor(t), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if state != "" {
		if err := sparkfixture.SetState(ctxFor(t), c.Dynamic, ns, first.Name, state); err != nil {
			t.Fatal(err)
		}
	}
	promConf = first.Name + "-prom-conf"
	createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: promConf,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: first.Name, UID: created.GetUID(), Controller: ptrTo(true)}}}})
	return first, promConf, created.GetUID()
}

func TestCleanupByDriverPodOfAnOldRunIsStillRunningWhileANewApplicationOfTheSameNameRuns(t *testing.T) {
	ns := cp.NewNamespace(t)
	first, promConf, _ := retryWithSameName(t, ns, sparkfixture.StateSubmitted)
	before := mapNames(t, ns)
	_, c := admin(t)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: first.DriverPod})
	var running *hook.StillRunningError
	if !errors.As(err, &running) || len(res.Deleted) != 0 {
		t.Fatalf("err %v, deleted %v; want exit 4: the new application %s runs", err, names(res.Deleted), first.Name)
	}
	if got := mapNames(t, ns); !equal(got, before) || !contains(got, promConf) {
		t.Fatalf("maps changed: %v", got)
	}
}

func TestCleanupByDriverPodOfAnOldRunNeverTakesTheNewApplicationsMapsByName(t *testing.T) {
	ns := cp.NewNamespace(t)
	first, promConf, _ := retryWithSameName(t, ns, sparkfixture.StateCompleted)
	_, c := admin(t)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: first.DriverPod})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), sorted(first.MapNames()); !equal(got, want) {
		t.Fatalf("deleted %v, want only the first run's %v", got, want)
	}
	if !contains(mapNames(t, ns), promConf) {
		t.Fatalf("%s, owned by the new application of the same name, was deleted", promConf)
	}
}

func TestCleanupRereadsAGoneDriverAfterListingMapsByItsName(t *testing.T) {
	ns := cp.NewNamespace(t)
	// The driver Pod is gone (its maps remain: the garbage collector is
	// behind); while the tool pages through the namespace for maps owned
	// by that name, a new driver of the same name submits.
	old := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, DriverDeleted: true})
	kube, _ := admin(t)
	// The new driver's pod-template map: no label ties it to an
	// application id, only its owner does.
	newMap := "resubmitted-" + hex16(t) + "-driver-podspec-conf-map"
	var resubmitted atomic.Bool
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isMapList(r) && r.URL.Query().Get("labelSelector") == "" && resubmitted.CompareAndSwap(false, true) {
				ctx := context.Background()
				id := "spark-" + hex16(t) + hex16(t)
				pod, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: old.DriverPod, Labels: map[string]string{rule.LabelAppSelector: id, rule.LabelRole: rule.RoleDriver}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "spark-kubernetes-driver", Image: "spark"}}},
				}, metav1.CreateOptions{})
				if err == nil {
					_, err = kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: newMap,
						OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptrTo(true)}}}}, metav1.CreateOptions{})
				}
				if err != nil {
					t.Errorf("resubmit: %v", err)
				}
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: old.DriverPod})
	if !resubmitted.Load() {
		t.Fatal("the full map list was never intercepted")
	}
	var running *hook.StillRunningError
	if !errors.As(err, &running) || len(res.Deleted) != 0 {
		t.Fatalf("err %v, deleted %v; want exit 4: a driver of that name runs now", err, names(res.Deleted))
	}
	if !contains(mapNames(t, ns), newMap) {
		t.Errorf("the new driver's %s was deleted", newMap)
	}
}

func TestSweepStartsAListOverWhenItsContinueTokenExpired(t *testing.T) {
	// Without the watch cache the API server pages straight from etcd, and
	// a continue token from before a compaction gets 410 Expired, as it
	// does on a busy cluster once a list outlives the compaction interval.
	etcdOnly := kubecluster.ForTest(t, kubecluster.Options{APIServerFlags: []string{"--watch-cache=false"}})
	ns := etcdOnly.NewNamespace(t)
	admins, kube := clientsFor(t, etcdOnly.AdminConfig(), nil), kubeFor(t, etcdOnly.AdminConfig())
	apps, err := sparkfixture.Bulk(ctxFor(t), kube, admins.Dynamic, ns, 12, sparkfixture.BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range apps {
		want = append(want, a.MapNames()...)
	}
	var compacted, firstPages atomic.Int32
	var expired atomic.Bool
	expiring := clientsFor(t, etcdOnly.AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			isMaps := r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && q.Get("limit") != "1"
			if isMaps && q.Get("continue") == "" {
				firstPages.Add(1)
			}
			if isMaps && q.Get("continue") != "" && compacted.CompareAndSwap(0, 1) {
				// A write moves the revision on; the compaction then drops
				// the one the token reads.
				if _, err := kube.CoreV1().ConfigMaps(ns).Create(r.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written-mid-list"}}, metav1.CreateOptions{}); err != nil {
					t.Errorf("write mid-list: %v", err)
				}
				if err := etcdOnly.CompactEtcd(r.Context()); err != nil {
					t.Errorf("compact etcd: %v", err)
				}
			}
			resp, err := rt.RoundTrip(r)
			if err == nil && resp.StatusCode == http.StatusGone {
				expired.Store(true)
			}
			return resp, err
		})
	})
	res, err := sweep(t, expiring, hook.SweepOptions{Namespace: ns, PageSize: 7})
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if !expired.Load() {
		t.Fatal("the API server never answered 410: the test proves nothing")
	}
	if firstPages.Load() < 2 {
		t.Fatalf("the map list was started %d time(s), want a fresh start after the 410", firstPages.Load())
	}
	if got := names(res.Deleted); !equal(got, sorted(want)) {
		t.Fatalf("deleted %d maps, want %d", len(got), len(want))
	}
}

// stepClock is a retry clock that moves only when told to, or by the waits
// the retry policy asks for.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
func (c *stepClock) sleep(ctx context.Context, d time.Duration) error {
	c.advance(d)
	return ctx.Err()
}

// statusAnswer is an error answer as the API server writes it.
func statusAnswer(code int, reason metav1.StatusReason) *http.Response {
	body := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","reason":%q,"code":%d}`, reason, code)
	return &http.Response{StatusCode: code, Header: http.Header{"Content-Type": []string{"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
}

func TestSweepRetriesAPageThatFailsAfterMinutesOfListing(t *testing.T) {
	ns := cp.NewNamespace(t)
	want := bulkMaps(t, ns, 40)
	clock := &stepClock{now: time.Unix(1_700_000_000, 0)}
	var pages atomic.Int32
	slow := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && r.URL.Query().Get("continue") != "" {
				switch pages.Add(1) {
				case 2:
					// The list has taken three minutes so far, longer
					// than the whole retry budget...
					clock.advance(3 * time.Minute)
				case 3:
					// ...when one page fails, once.
					return statusAnswer(http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable), nil
				}
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := sweep(t, slow, hook.SweepOptions{Namespace: ns, PageSize: 5,
		Retry: hook.RetryPolicy{Budget: 2 * time.Minute, Clock: clock, Sleep: clock.sleep}})
	if err != nil {
		t.Fatalf("one failed page ended the run: %v", err)
	}
	if pages.Load() < 3 {
		t.Fatal("the fault was never injected")
	}
	if got := names(res.Deleted); !equal(got, sorted(want)) {
		t.Fatalf("deleted %d maps, want %d", len(got), len(want))
	}
}

func TestCleanupNeverTakesAProxys404PageForAGoneDriver(t *testing.T) {
	ns := cp.NewNamespace(t)
	// A plain spark-submit application, running: only its driver Pod says so.
	app := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning})
	before := mapUIDs(t, ns)
	proxied := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pods/"+app.DriverPod) {
				// An ingress in front of the API server, not the API server.
				return &http.Response{StatusCode: http.StatusNotFound, Header: http.Header{"Content-Type": []string{"text/html"}},
					Body: io.NopCloser(strings.NewReader("<html><body><h1>404 Not Found</h1>nginx</body></html>"))}, nil
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := cleanup(t, proxied, hook.CleanupOptions{Namespace: ns, DriverPod: app.DriverPod})
	if err == nil || len(res.Deleted) != 0 {
		t.Fatalf("err %v, deleted %v: a proxy's 404 page was taken for a gone driver", err, names(res.Deleted))
	}
	var running *hook.StillRunningError
	if errors.As(err, &running) {
		t.Fatalf("err %v: a failure, not a verdict on the application, was expected", err)
	}
	if after := mapUIDs(t, ns); len(after) != len(before) {
		t.Fatalf("maps changed: %v -> %v", before, after)
	}
}

func TestSweepRecordsEveryMapItConsideredWhenTheRunStopsEarly(t *testing.T) {
	ns := cp.NewNamespace(t)
	var want []string
	for i := 0; i < 4; i++ {
		want = append(want, newApp(t, ns, sparkfixture.Spec{PodTemplate: true}).MapNames()...)
	}
	// An identity that may read everything but delete nothing: the first
	// DELETE is refused and the run stops.
	reader := serviceAccount(t, ns, "reader")
	role := cleanupRole(ns)
	role.Rules[0].Verbs = []string{"get", "list"}
	bindRole(t, role, ns, "reader")
	var err error
	var res *hook.Result
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// The new binding reaches the authorizer through a watch.
		res, err = sweep(t, reader, hook.SweepOptions{Namespace: ns, Concurrency: 2, BatchSize: 3})
		var fe *hook.ForbiddenError
		if errors.As(err, &fe) && fe.Verb == "delete" || time.Now().After(deadline) {
			break
		}
	}
	var fe *hook.ForbiddenError
	if !errors.As(err, &fe) || fe.Verb != "delete" {
		t.Fatalf("err %v, want the refused delete", err)
	}
	var recorded []string
	for _, list := range [][]hook.Entry{res.Deleted, res.Skipped, res.Failed} {
		recorded = append(recorded, names(list)...)
	}
	if got := sorted(recorded); !equal(got, sorted(want)) {
		t.Fatalf("records for %d maps %v, want one for each of the %d considered", len(got), got, len(want))
	}
	notAttempted := 0
	for _, e := range res.Failed {
		if strings.HasPrefix(e.Reason, "not attempted: ") {
			notAttempted++
		}
	}
	if notAttempted == 0 || len(mapNames(t, ns)) != len(want) {
		t.Fatalf("%d not attempted, %d maps left of %d", notAttempted, len(mapNames(t, ns)), len(want))
	}
}

// rerunBeforeItsBatch reruns a FAILED application (the operator does so
// while retries are left) after the sweep judged its maps and before their
// batch is deleted: when the re-check before the batch starts, the
// application is moved to PENDING_RERUN. With watching, the re-check is held
// until the tool's own watch has delivered that change, so the test does
// not depend on timing.
func rerunBeforeItsBatch(t *testing.T, ns, app string, watching bool) hook.Clients {
	_, admins := admin(t)
	var once sync.Once
	seen := make(chan struct{})
	var seenOnce sync.Once
	cfg := cp.Get(t).AdminConfig()
	if !watching {
		serviceAccount(t, ns, "no-watch")
		role := cleanupRole(ns)
		role.Rules[2].Verbs = []string{"get", "list"} // sparkapplications: no watch
		bindRole(t, role, ns, "no-watch")
		var err error
		if cfg, err = cp.Get(t).ServiceAccountConfig(ctxFor(t), ns, "no-watch"); err != nil {
			t.Fatal(err)
		}
	}
	return clientsFor(t, cfg, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pods") && strings.Contains(r.URL.Query().Get("fieldSelector"), "status.phase") {
				once.Do(func() {
					if err := sparkfixture.SetState(context.Background(), admins.Dynamic, ns, app, sparkfixture.StatePendingRerun); err != nil {
						t.Errorf("rerun: %v", err)
						return
					}
					if watching {
						select {
						case <-seen:
						case <-time.After(time.Minute):
							t.Error("the sweep's watch never delivered the rerun")
						}
					}
				})
			}
			resp, err := rt.RoundTrip(r)
			if err == nil && r.URL.Query().Get("watch") == "true" && strings.Contains(r.URL.Path, "sparkapplications") {
				resp.Body = &sniffer{ReadCloser: resp.Body, want: sparkfixture.StatePendingRerun, found: func() { seenOnce.Do(func() { close(seen) }) }}
			}
			return resp, err
		})
	})
}

// sniffer calls found once the stream it reads has carried want.
type sniffer struct {
	io.ReadCloser
	want  string
	found func()
}

func (s *sniffer) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	if strings.Contains(string(p[:n]), s.want) {
		s.found()
	}
	return n, err
}

func TestSweepKeepsTheMapsOfAnApplicationRerunAfterItWasJudged(t *testing.T) {
	for _, watching := range []bool{true, false} {
		name := "followed by a watch"
		if !watching {
			name = "read again, where watching is not allowed"
		}
		t.Run(name, func(t *testing.T) {
			ns := cp.NewNamespace(t)
			app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateFailed, PodTemplate: true})
			c := rerunBeforeItsBatch(t, ns, app.Name, watching)
			res, err := sweep(t, c, hook.SweepOptions{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Deleted) != 0 {
				t.Fatalf("deleted %v of an application rerun before their batch", names(res.Deleted))
			}
			for _, n := range app.MapNames() {
				if r := skipReasons(res)[n]; !strings.Contains(r, "is now "+sparkfixture.StatePendingRerun) {
					t.Errorf("%s: reason %q", n, r)
				}
			}
		})
	}
}
