package hook

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store/memstore"
)

// The orchestration (cleanup, sweep, wait, watch) run whole on the
// in-memory store, whose semantics storetest checks against the real API
// server: what each mode reads, decides and deletes, in milliseconds. The
// control-plane tests prove the same behaviours on the real parts.

var (
	podsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	cmGR      = schema.GroupResource{Resource: "configmaps"}
	memLogger = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// memWorld is a cluster in memory that tests fill with applications.
type memWorld struct {
	t *testing.T
	s *memstore.Store
}

func newMemWorld(t *testing.T) *memWorld {
	t.Helper()
	w := &memWorld{t: t, s: memstore.New()}
	for _, ns := range []string{"jobs", "other"} {
		w.create(store.NamespacesGVR, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	return w
}

func (w *memWorld) clients() Clients { return Clients{Store: w.s} }

func (w *memWorld) create(gvr schema.GroupVersionResource, obj runtime.Object) *unstructured.Unstructured {
	w.t.Helper()
	u, err := w.s.Create(gvr, obj)
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// app is a SparkApplication in state, with the application id and driver
// its status names, and the maps its spec names as the user's.
func (w *memWorld) app(ns, name, state, id string, userMaps ...string) metav1.OwnerReference {
	spec := map[string]any{}
	if len(userMaps) > 0 {
		spec["sparkConfigMap"] = userMaps[0]
	}
	status := map[string]any{
		"sparkApplicationId": id,
		"driverInfo":         map[string]any{"podName": name + "-driver"},
		"applicationState":   map[string]any{"state": state},
	}
	if state == "COMPLETED" || state == "FAILED" {
		status["terminationTime"] = time.Now().UTC().Format(time.RFC3339)
	}
	u := w.create(store.SparkApplicationGVR, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec, "status": status,
	}})
	return metav1.OwnerReference{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: name, UID: u.GetUID()}
}

// pod is a Pod of application id in role and phase, mounting maps.
func (w *memWorld) pod(ns, name, id, role string, phase corev1.PodPhase, owner *metav1.OwnerReference, maps ...string) metav1.OwnerReference {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{}}, Status: corev1.PodStatus{Phase: phase}}
	if id != "" {
		p.Labels[rule.LabelAppSelector], p.Labels[rule.LabelRole] = id, role
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	p.Spec.Containers = []corev1.Container{{Name: rule.DefaultDriverContainer, Image: "spark"}}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: rule.DefaultDriverContainer,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.Now()}}}}
	}
	for _, m := range maps {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: m, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: m}}}})
	}
	u := w.create(podsGVR, p)
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: u.GetUID()}
}

// cm is a ConfigMap with labels (key, value pairs) and owners.
func (w *memWorld) cm(ns, name string, labels []string, owners ...metav1.OwnerReference) {
	m := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners}, Data: map[string]string{"spark.properties": "spark.app.name=etl"}}
	if len(labels) > 0 {
		m.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			m.Labels[labels[i]] = labels[i+1]
		}
	}
	w.create(store.ConfigMapsGVR, m)
}

// setPod replaces a Pod's phase (and its driver container's end).
func (w *memWorld) setPod(ns, name string, phase corev1.PodPhase) {
	w.t.Helper()
	p, err := w.s.GetPod(context.Background(), ns, name)
	if err != nil {
		w.t.Error(err)
		return
	}
	p.Status.Phase = phase
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: rule.DefaultDriverContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.Now()}}}}
	if _, err := w.s.Update(podsGVR, p); err != nil {
		w.t.Error(err)
	}
}

// setAppState moves a SparkApplication to state.
func (w *memWorld) setAppState(ns, name, state string) {
	w.t.Helper()
	u, err := w.s.GetApp(context.Background(), store.SparkApplicationGVR, ns, name)
	if err != nil {
		w.t.Error(err)
		return
	}
	_ = unstructured.SetNestedField(u.Object, state, "status", "applicationState", "state")
	_ = unstructured.SetNestedField(u.Object, time.Now().UTC().Format(time.RFC3339), "status", "terminationTime")
	if _, err := w.s.Update(store.SparkApplicationGVR, u); err != nil {
		w.t.Error(err)
	}
}

// maps lists the names of the maps left in ns.
func (w *memWorld) maps(ns string) []string {
	w.t.Helper()
	list, err := w.s.ListMaps(context.Background(), ns, metav1.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	var names []string
	for _, m := range list.Items {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

const (
	idDone    = "spark-00000000000000000000000000000001"
	idRunning = "spark-00000000000000000000000000000002"
	idClient  = "spark-00000000000000000000000000000003"
	idQuiet   = "spark-00000000000000000000000000000004"
)

// finishedApp is a Kubeflow application that COMPLETED: its driver and
// executor maps owned by the driver Pod, the operator's prom-conf owned by
// the SparkApplication, a user map the spec names, and a map annotated
// keep.
func (w *memWorld) finishedApp(ns string) {
	sa := w.app(ns, "etl", "COMPLETED", idDone, "team-conf")
	drv := w.pod(ns, "etl-driver", idDone, rule.RoleDriver, corev1.PodSucceeded, &sa, "spark-drv-0000000000000001-conf-map")
	w.cm(ns, "spark-drv-0000000000000001-conf-map", nil, drv)
	w.cm(ns, "spark-exec-0000000000000001-conf-map", []string{rule.LabelAppSelector, idDone, rule.LabelRole, rule.RoleExecutor}, drv)
	w.cm(ns, "etl-prom-conf", nil, sa)
	w.cm(ns, "team-conf", nil)
	m := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "spark-drv-00000000000000aa-conf-map", OwnerReferences: []metav1.OwnerReference{drv},
		Annotations: map[string]string{rule.AnnotationKeep: "true"}}}
	w.create(store.ConfigMapsGVR, m)
}

// runningApp is a Kubeflow application whose driver runs.
func (w *memWorld) runningApp(ns string) {
	sa := w.app(ns, "live", "RUNNING", idRunning)
	drv := w.pod(ns, "live-driver", idRunning, rule.RoleDriver, corev1.PodRunning, &sa, "spark-drv-0000000000000002-conf-map")
	w.cm(ns, "spark-drv-0000000000000002-conf-map", nil, drv)
}

// clientModeApps: two ownerless executor maps, one of an application whose
// executor still runs and one of an application with no Pod left.
func (w *memWorld) clientModeApps(ns string) {
	w.pod(ns, "nb-exec-1", idClient, rule.RoleExecutor, corev1.PodRunning, nil)
	w.cm(ns, "spark-exec-0000000000000003-conf-map", []string{rule.LabelAppSelector, idClient, rule.LabelRole, rule.RoleExecutor})
	w.cm(ns, "spark-exec-0000000000000004-conf-map", []string{rule.LabelAppSelector, idQuiet, rule.LabelRole, rule.RoleExecutor})
}

// decided is every map's decision, the kind of reason it was kept for and
// the reason in a run's ledger: "skipped [in-use]: in use by Pod ...".
func decided(res *Result) map[string]string {
	out := map[string]string{}
	if res == nil {
		return out
	}
	for _, list := range [][]Entry{res.Deleted, res.Skipped, res.Failed} {
		for _, e := range list {
			d := string(e.Decision)
			if e.Keep != "" {
				d += " [" + string(e.Keep) + "]"
			}
			out[e.Name] = d + ": " + e.Reason
		}
	}
	return out
}

func TestSweepOnTheStoreDeletesExactlyTheFinishedApplicationsLeftovers(t *testing.T) {
	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	for _, tc := range []struct {
		name string
		o    SweepOptions
		want map[string][]string // namespace -> the maps left
	}{
		{"one namespace", SweepOptions{Namespace: "jobs"}, map[string][]string{
			"jobs": {"spark-drv-0000000000000002-conf-map", "spark-drv-00000000000000aa-conf-map", "spark-exec-0000000000000003-conf-map", "team-conf", "unrelated"},
		}},
		{"pages of two maps", SweepOptions{Namespace: "jobs", PageSize: 2, BatchSize: 1, Concurrency: 1}, map[string][]string{
			"jobs": {"spark-drv-0000000000000002-conf-map", "spark-drv-00000000000000aa-conf-map", "spark-exec-0000000000000003-conf-map", "team-conf", "unrelated"},
		}},
		{"all namespaces but one", SweepOptions{AllNamespaces: true, ExcludeNamespaces: []string{"other"}}, map[string][]string{
			"jobs":  {"spark-drv-0000000000000002-conf-map", "spark-drv-00000000000000aa-conf-map", "spark-exec-0000000000000003-conf-map", "team-conf", "unrelated"},
			"other": {"etl-prom-conf", "spark-drv-0000000000000001-conf-map", "spark-drv-00000000000000aa-conf-map", "spark-exec-0000000000000001-conf-map", "team-conf"},
		}},
		{"several namespaces", SweepOptions{Namespaces: []string{"jobs", "other"}}, map[string][]string{
			"jobs":  {"spark-drv-0000000000000002-conf-map", "spark-drv-00000000000000aa-conf-map", "spark-exec-0000000000000003-conf-map", "team-conf", "unrelated"},
			"other": {"spark-drv-00000000000000aa-conf-map", "team-conf"},
		}},
		{"dry run", SweepOptions{Namespace: "jobs", DryRun: true}, map[string][]string{
			"jobs": {"etl-prom-conf", "spark-drv-0000000000000001-conf-map", "spark-drv-0000000000000002-conf-map", "spark-drv-00000000000000aa-conf-map",
				"spark-exec-0000000000000001-conf-map", "spark-exec-0000000000000003-conf-map", "spark-exec-0000000000000004-conf-map", "team-conf", "unrelated"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newMemWorld(t)
			w.finishedApp("jobs")
			w.runningApp("jobs")
			w.clientModeApps("jobs")
			w.cm("jobs", "unrelated", nil)
			w.finishedApp("other")
			o := tc.o
			o.OlderThan, o.Now, o.Retry = time.Hour, later, RetryPolicy{Budget: DefaultRetryBudget}
			res, err := Sweep(context.Background(), w.clients(), memLogger, o)
			if err != nil {
				t.Fatal(err)
			}
			for ns, want := range tc.want {
				if got := w.maps(ns); !slices.Equal(got, want) {
					t.Errorf("%s: maps left %v, want %v\nledger: %v", ns, got, want, decided(res))
				}
			}
			why := decided(res)
			if _, judged := why["team-conf"]; judged {
				t.Errorf("the user's map was judged: it bears no sign of Spark and must be passed over: %q", why["team-conf"])
			}
			for name, part := range map[string]string{
				"spark-drv-00000000000000aa-conf-map":  "[keep-annotation]: " + rule.AnnotationKeep,
				"spark-drv-0000000000000002-conf-map":  "[running]: application still running: driver Pod live-driver is Running",
				"spark-exec-0000000000000003-conf-map": "[running]: application still running: Pod nb-exec-1",
			} {
				if got := why[name]; !strings.Contains(got, part) {
					t.Errorf("%s: %q, want a reason with %q", name, got, part)
				}
			}
		})
	}
}

func TestSweepOnTheStoreKeepsAMapAPodMountsAndAMapYoungerThanTheBound(t *testing.T) {
	w := newMemWorld(t)
	w.finishedApp("jobs")
	w.pod("jobs", "reader", "", "", corev1.PodRunning, nil, "spark-exec-0000000000000001-conf-map")
	res, err := Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", OlderThan: time.Hour,
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }, Retry: RetryPolicy{Budget: DefaultRetryBudget}})
	if err != nil {
		t.Fatal(err)
	}
	why := decided(res)
	if got := why["spark-exec-0000000000000001-conf-map"]; !strings.Contains(got, "skipped [in-use]: in use by Pod reader (Running)") {
		t.Errorf("mounted map: %q", got)
	}
	w = newMemWorld(t)
	w.finishedApp("jobs")
	res, err = Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", OlderThan: 24 * time.Hour, Retry: RetryPolicy{Budget: DefaultRetryBudget}})
	if err != nil {
		t.Fatal(err)
	}
	if got := decided(res)["etl-prom-conf"]; !strings.Contains(got, "skipped [too-young]: younger than the minimum age") {
		t.Errorf("young map: %q", got)
	}
}

func TestCleanupOnTheStoreByEachTarget(t *testing.T) {
	all := []string{"etl-prom-conf", "spark-drv-0000000000000001-conf-map", "spark-drv-0000000000000002-conf-map", "spark-drv-00000000000000aa-conf-map",
		"spark-exec-0000000000000001-conf-map", "spark-exec-0000000000000003-conf-map", "spark-exec-0000000000000004-conf-map", "team-conf"}
	without := func(gone ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(n string) bool { return slices.Contains(gone, n) })
	}
	etlGone := without("etl-prom-conf", "spark-drv-0000000000000001-conf-map", "spark-exec-0000000000000001-conf-map")
	for _, tc := range []struct {
		name    string
		o       CleanupOptions
		left    []string
		running bool
	}{
		{"the SparkApplication", CleanupOptions{SparkApp: "etl"}, etlGone, false},
		{"the driver Pod", CleanupOptions{DriverPod: "etl-driver"}, etlGone, false},
		{"the application id", CleanupOptions{AppID: idDone}, etlGone, false},
		{"a running application", CleanupOptions{SparkApp: "live"}, all, true},
		{"a client-mode application whose executor runs", CleanupOptions{AppID: idClient}, all, true},
		{"a client-mode application with no Pod left", CleanupOptions{AppID: idQuiet}, without("spark-exec-0000000000000004-conf-map"), false},
		{"dry run", CleanupOptions{SparkApp: "etl", DryRun: true}, all, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newMemWorld(t)
			w.finishedApp("jobs")
			w.runningApp("jobs")
			w.clientModeApps("jobs")
			o := tc.o
			o.Namespace, o.Retry = "jobs", RetryPolicy{Budget: DefaultRetryBudget}
			res, err := Cleanup(context.Background(), w.clients(), memLogger, o)
			var running *StillRunningError
			if tc.running != errors.As(err, &running) || !tc.running && err != nil {
				t.Fatalf("err = %v, want still running: %v", err, tc.running)
			}
			if got := w.maps("jobs"); !slices.Equal(got, tc.left) {
				t.Errorf("maps left %v, want %v\nledger: %v", got, tc.left, decided(res))
			}
		})
	}
}

// onWatch is a Store that runs a change once a watch is open, as the
// cluster does when the driver ends while cleanup --wait follows it.
type onWatch struct {
	store.Store
	then func()
}

func (s *onWatch) WatchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := s.Store.WatchPods(ctx, ns, opts)
	if err == nil && s.then != nil {
		then := s.then
		s.then = nil
		go then()
	}
	return w, err
}

func TestCleanupOnTheStoreWaitsUntilTheApplicationEndsThenDeletes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      CleanupOptions
		seed   func(w *memWorld)
		finish func(w *memWorld)
	}{
		{"a driver Pod", CleanupOptions{DriverPod: "etl-driver"},
			func(w *memWorld) {
				drv := w.pod("jobs", "etl-driver", idDone, rule.RoleDriver, corev1.PodRunning, nil, "spark-drv-0000000000000001-conf-map")
				w.cm("jobs", "spark-drv-0000000000000001-conf-map", nil, drv)
			},
			func(w *memWorld) { w.setPod("jobs", "etl-driver", corev1.PodSucceeded) }},
		{"a SparkApplication and its driver", CleanupOptions{SparkApp: "etl"},
			func(w *memWorld) {
				sa := w.app("jobs", "etl", "RUNNING", idDone)
				drv := w.pod("jobs", "etl-driver", idDone, rule.RoleDriver, corev1.PodRunning, &sa, "spark-drv-0000000000000001-conf-map")
				w.cm("jobs", "spark-drv-0000000000000001-conf-map", nil, drv)
			},
			func(w *memWorld) {
				w.setPod("jobs", "etl-driver", corev1.PodSucceeded)
				w.setAppState("jobs", "etl", "COMPLETED")
			}},
		{"a client-mode application's executors", CleanupOptions{AppID: idClient},
			func(w *memWorld) {
				w.pod("jobs", "nb-exec-1", idClient, rule.RoleExecutor, corev1.PodRunning, nil)
				w.cm("jobs", "spark-exec-0000000000000003-conf-map", []string{rule.LabelAppSelector, idClient, rule.LabelRole, rule.RoleExecutor})
			},
			func(w *memWorld) { w.setPod("jobs", "nb-exec-1", corev1.PodSucceeded) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newMemWorld(t)
			tc.seed(w)
			c := w.clients()
			// The application ends once cleanup follows it.
			c.Store = &onWatch{Store: w.s, then: func() { tc.finish(w) }}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			o := tc.o
			o.Namespace, o.Wait, o.Retry = "jobs", time.Minute, RetryPolicy{Budget: DefaultRetryBudget}
			res, err := Cleanup(ctx, c, memLogger, o)
			if err != nil {
				t.Fatalf("%v; ledger %v", err, decided(res))
			}
			if got := w.maps("jobs"); len(got) != 0 {
				t.Errorf("maps left %v once the application ended: %v", got, decided(res))
			}
		})
	}
}

func TestWatchOnTheStoreCleansUpOnceTheDriverContainerEnds(t *testing.T) {
	w := newMemWorld(t)
	drv := w.pod("jobs", "etl-driver", idDone, rule.RoleDriver, corev1.PodRunning, nil, "spark-drv-0000000000000001-conf-map")
	w.cm("jobs", "spark-drv-0000000000000001-conf-map", nil, drv)
	w.cm("jobs", "spark-exec-0000000000000001-conf-map", []string{rule.LabelAppSelector, idDone, rule.LabelRole, rule.RoleExecutor}, drv)
	c := w.clients()
	c.Store = &onWatch{Store: w.s, then: func() { w.setPod("jobs", "etl-driver", corev1.PodRunning) }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Watch(ctx, c, memLogger, WatchOptions{Namespace: "jobs", Pod: "etl-driver", Retry: RetryPolicy{Budget: DefaultRetryBudget}})
	if err != nil {
		t.Fatalf("%v; ledger %v", err, decided(res))
	}
	if got := w.maps("jobs"); len(got) != 0 {
		t.Errorf("maps left %v once the driver container ended: %v", got, decided(res))
	}
}

func TestAdoptOnTheStoreGivesSharedMapsEveryApplicationAsOwnerAndSkipsTheRest(t *testing.T) {
	w := newMemWorld(t)
	first := w.app("jobs", "etl-a", "RUNNING", idDone, "shared-conf")
	second := w.app("jobs", "etl-b", "RUNNING", idRunning, "shared-conf")
	w.app("jobs", "etl-c", "RUNNING", idClient, "kept-conf")
	w.app("jobs", "etl-d", "RUNNING", idQuiet, "notebook-conf")
	w.app("jobs", "etl-e", "RUNNING", "spark-00000000000000000000000000000005", "absent-conf")
	w.cm("jobs", "shared-conf", nil)
	w.create(store.ConfigMapsGVR, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "kept-conf", Annotations: map[string]string{rule.AnnotationKeep: "true"}}})
	w.cm("jobs", "notebook-conf", nil)
	w.pod("jobs", "notebook", "", "", corev1.PodRunning, nil, "notebook-conf")

	// Each map's decision, and a part of its reason.
	want := map[string][2]string{
		"shared-conf":   {string(WouldAdopt), ""},
		"kept-conf":     {string(AdoptSkipped), rule.AnnotationKeep},
		"notebook-conf": {string(AdoptSkipped), "used by Pod notebook"},
		"absent-conf":   {string(AdoptSkipped), "not found"},
	}
	run := func(apply bool) map[string][2]string {
		t.Helper()
		res, err := Adopt(context.Background(), w.clients(), memLogger, AdoptOptions{Namespace: "jobs", Apply: apply, Retry: RetryPolicy{Budget: DefaultRetryBudget}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][2]string{}
		for _, m := range res.Maps {
			got[m.Name] = [2]string{string(m.Decision), m.Reason}
		}
		return got
	}
	check := func(got map[string][2]string) {
		t.Helper()
		for name, w := range want {
			if got[name][0] != w[0] || !strings.Contains(got[name][1], w[1]) {
				t.Errorf("%s: %q, want %q with a reason holding %q", name, got[name], w[0], w[1])
			}
		}
	}
	check(run(false))
	if m, _ := w.s.GetMap(context.Background(), "jobs", "shared-conf"); len(m.OwnerReferences) != 0 {
		t.Fatalf("a dry run wrote owners: %v", m.OwnerReferences)
	}
	want["shared-conf"] = [2]string{string(Adopted), ""}
	check(run(true))
	m, err := w.s.GetMap(context.Background(), "jobs", "shared-conf")
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, ref := range m.OwnerReferences {
		uids = append(uids, string(ref.UID))
		if ref.Controller == nil || *ref.Controller {
			t.Errorf("owner %s is the controller: the application does not manage the map", ref.Name)
		}
	}
	slices.Sort(uids)
	wantUIDs := []string{string(first.UID), string(second.UID)}
	slices.Sort(wantUIDs)
	if !slices.Equal(uids, wantUIDs) {
		t.Errorf("owners %v, want both applications %v", uids, wantUIDs)
	}
	for _, name := range []string{"kept-conf", "notebook-conf"} {
		if m, _ := w.s.GetMap(context.Background(), "jobs", name); len(m.OwnerReferences) != 0 {
			t.Errorf("%s got owners though it was skipped", name)
		}
	}
	want["shared-conf"] = [2]string{string(AlreadyAdopted), ""}
	check(run(true))
}

func TestReportOnTheStoreCountsWhatSweepWouldDeleteChangesNothingAndNamesACauseForEach(t *testing.T) {
	w := newMemWorld(t)
	w.finishedApp("jobs")
	w.runningApp("jobs")
	w.clientModeApps("jobs")
	w.cm("jobs", "unrelated", nil)
	// A driver map holding 300 KiB of files shipped from SPARK_CONF_DIR.
	drv, err := w.s.GetPod(context.Background(), "jobs", "etl-driver")
	if err != nil {
		t.Fatal(err)
	}
	w.create(store.ConfigMapsGVR, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "spark-drv-00000000000000bb-conf-map",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: drv.Name, UID: drv.UID}}},
		Data: map[string]string{"big.jar.b64": strings.Repeat("x", 300<<10)}})
	before := w.maps("jobs")
	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	causes := map[string]Cause{}
	rep, err := Report(context.Background(), w.clients(), memLogger, ReportOptions{Namespace: "jobs", OlderThan: time.Hour, Now: later, Retry: RetryPolicy{Budget: DefaultRetryBudget},
		Sizes: true, Each: func(e Entry, c Cause) { causes[e.Name] = c }})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.maps("jobs"); !slices.Equal(got, before) {
		t.Fatalf("report changed the maps: %v, was %v", got, before)
	}
	dry, err := Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", OlderThan: time.Hour, Now: later, DryRun: true, Retry: RetryPolicy{Budget: DefaultRetryBudget}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.WouldDelete != len(dry.Deleted) || rep.Total.Maps != len(dry.Deleted)+len(dry.Skipped) {
		t.Errorf("report: %d maps, %d would go; sweep --dry-run: %d would go, %d kept", rep.Total.Maps, rep.Total.WouldDelete, len(dry.Deleted), len(dry.Skipped))
	}
	for name := range decided(dry) {
		if causes[name] == "" {
			t.Errorf("%s has no cause in the report", name)
		}
	}
	if rep.BigMaps == nil || rep.BigMaps.Maps != 1 || rep.BigMaps.Bytes < 300<<10 {
		t.Errorf("big maps %+v, want the 300 KiB driver map", rep.BigMaps)
	}
	if rep.Total.Bytes <= 0 {
		t.Errorf("--sizes counted %d bytes: every map has a size", rep.Total.Bytes)
	}
	if rep.UserMaps.Maps != 1 {
		t.Errorf("user maps not considered: %d, want team-conf", rep.UserMaps.Maps)
	}
}

// jumpClock is the run's clock, moved on by the test: a delete that waited
// (behind throttling, say) is seen to have waited.
type jumpClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *jumpClock) jump(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.offset += d }

// afterRecheck is a Store that runs a change once, just after the re-check
// of non-terminated Pods before a batch of deletes.
type afterRecheck struct {
	store.Store
	mu   sync.Mutex
	then func()
}

func (s *afterRecheck) ListPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	l, err := s.Store.ListPods(ctx, ns, opts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if opts.FieldSelector == nonTerminatedPods && s.then != nil {
		s.then()
		s.then = nil
	}
	return l, err
}

func TestSweepOnTheStoreReadsAgainBeforeADeleteThatWaitedPastTheBound(t *testing.T) {
	w := newMemWorld(t)
	w.finishedApp("jobs")
	clock := &jumpClock{}
	retry := RetryPolicy{Budget: DefaultRetryBudget}
	retry.Clock = clock
	c := w.clients()
	// After the batch's re-check, a Pod starts that mounts the executor
	// map, and the deletes wait longer than the bound before they are sent.
	c.Store = &afterRecheck{Store: w.s, then: func() {
		w.pod("jobs", "late", "", "", corev1.PodRunning, nil, "spark-exec-0000000000000001-conf-map")
		clock.jump(DefaultRecheckBound + time.Minute)
	}}
	res, err := Sweep(context.Background(), c, memLogger, SweepOptions{Namespace: "jobs", OlderThan: time.Hour, Retry: retry,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	why := decided(res)
	if got := why["spark-exec-0000000000000001-conf-map"]; !strings.Contains(got, "in use by Pod late (Running)") {
		t.Errorf("the map a Pod mounted while its delete waited: %q", got)
	}
	if got := w.maps("jobs"); slices.Contains(got, "spark-drv-0000000000000001-conf-map") || !slices.Contains(got, "spark-exec-0000000000000001-conf-map") {
		t.Errorf("maps left %v: want the driver map gone (re-read, still unused) and the executor map kept; ledger %v", got, why)
	}
}
