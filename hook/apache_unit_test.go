package hook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store/memstore"
)

// Both operators on the in-memory store, the orchestration whole: the
// control-plane tests (apache_controlplane_test.go) prove the same on the
// real API server.

var (
	apacheV1      = schema.GroupVersionResource{Group: ApacheSparkGroup, Version: "v1", Resource: "sparkapplications"}
	apacheV1beta1 = schema.GroupVersionResource{Group: ApacheSparkGroup, Version: "v1beta1", Resource: "sparkapplications"}
)

func newBothWorld(t *testing.T, apache ...schema.GroupVersionResource) *memWorld {
	t.Helper()
	w := &memWorld{t: t, s: memstore.New(append([]schema.GroupVersionResource{store.SparkApplicationGVR}, apache...)...)}
	for _, ns := range []string{"jobs", "other"} {
		w.create(store.NamespacesGVR, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	return w
}

// apacheApp is an Apache operator application in state (attempt attempt,
// a minute after its last transition) in gvr's version, with its driver
// Pod in phase and the driver's two maps; it returns the maps' names.
func (w *memWorld) apacheApp(gvr schema.GroupVersionResource, ns, name string, attempt int64, state string, phase corev1.PodPhase) []string {
	u := w.create(gvr, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": "SparkApplication",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{},
		"status": map[string]any{
			"currentState":          map[string]any{"currentStateSummary": state, "lastTransitionTime": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)},
			"currentAttemptSummary": map[string]any{"attemptInfo": map[string]any{"id": attempt}},
		},
	}})
	owner := metav1.OwnerReference{APIVersion: gvr.GroupVersion().String(), Kind: "SparkApplication", Name: name, UID: u.GetUID()}
	return w.apacheAttempt(ns, name, attempt, phase, owner)
}

// apacheAttempt is one attempt's driver Pod and maps, for owner.
func (w *memWorld) apacheAttempt(ns, name string, attempt int64, phase corev1.PodPhase, owner metav1.OwnerReference) []string {
	id := rule.ApacheAppID(ns, name, attempt)
	maps := []string{id + "-driver-podspec-conf-map", id + "-spark-drv-conf-map"}
	drv := w.pod(ns, id+"-driver", id, rule.RoleDriver, phase, &owner, maps...)
	for _, m := range maps {
		w.cm(ns, m, []string{rule.LabelAppSelector, id, rule.LabelRole, rule.RoleDriver}, drv)
	}
	return maps
}

func TestSweepOnTheStoreOverBothOperatorsDeletesExactlyTheFinishedOnesLeftovers(t *testing.T) {
	for _, version := range []schema.GroupVersionResource{apacheV1, apacheV1beta1} {
		t.Run("apache "+version.Version, func(t *testing.T) {
			w := newBothWorld(t, version)
			w.finishedApp("jobs")
			w.runningApp("jobs")
			done := w.apacheApp(version, "jobs", "pi", 0, "ResourceReleased", corev1.PodSucceeded)
			w.apacheApp(version, "jobs", "streaming", 0, "RunningHealthy", corev1.PodRunning)
			w.apacheApp(version, "jobs", "stale", 0, "RunningHealthy", corev1.PodSucceeded)
			w.apacheApp(version, "jobs", "maybe-restarts", 0, "Succeeded", corev1.PodSucceeded)
			res, err := Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", NoEvent: true})
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"etl-prom-conf", "spark-drv-0000000000000001-conf-map", "spark-exec-0000000000000001-conf-map"}, done...)
			slices.Sort(want)
			var got []string
			for _, e := range res.Deleted {
				got = append(got, e.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("deleted %v, want %v", got, want)
			}
		})
	}
}

func TestSweepOnTheStoreDeletesOnlyTheEarlierAttemptsMaps(t *testing.T) {
	w := newBothWorld(t, apacheV1)
	first := w.apacheApp(apacheV1, "jobs", "etl", 1, "RunningHealthy", corev1.PodRunning)
	// The application is in attempt 1; attempt 0's driver failed.
	app, err := w.s.GetApp(context.Background(), apacheV1, "jobs", "etl")
	if err != nil {
		t.Fatal(err)
	}
	earlier := w.apacheAttempt("jobs", "etl", 0, corev1.PodFailed, metav1.OwnerReference{APIVersion: "spark.apache.org/v1", Kind: "SparkApplication", Name: "etl", UID: app.GetUID()})
	res, err := Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Deleted {
		got = append(got, e.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, earlier) || !slices.Equal(w.maps("jobs"), first) {
		t.Fatalf("deleted %v, left %v; want %v deleted and %v left", got, w.maps("jobs"), earlier, first)
	}
}

func TestCleanupOnTheStoreFindsAnApacheApplicationByEachTargetAndRefusesAnAmbiguousName(t *testing.T) {
	w := newBothWorld(t, apacheV1)
	w.app("jobs", "etl", "COMPLETED", idDone)
	maps := w.apacheApp(apacheV1, "jobs", "etl", 0, "ResourceReleased", corev1.PodSucceeded)
	_, err := Cleanup(context.Background(), w.clients(), memLogger, CleanupOptions{Namespace: "jobs", SparkApp: "etl", NoEvent: true})
	var amb *AmbiguousAppError
	var usage *UsageError
	if !errors.As(err, &amb) || !errors.As(err, &usage) || !strings.Contains(err.Error(), "--operator") {
		t.Fatalf("an ambiguous name: %v, want an AmbiguousAppError that is a usage error", err)
	}
	for _, o := range []CleanupOptions{
		{SparkApp: "etl", Operator: OperatorApache, DryRun: true},
		{SparkApp: "sparkapplications.spark.apache.org/etl", DryRun: true},
		{DriverPod: "etl-0-driver", DryRun: true},
		{AppID: "etl-0", DryRun: true},
	} {
		o.Namespace, o.NoEvent = "jobs", true
		res, err := Cleanup(context.Background(), w.clients(), memLogger, o)
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		var got []string
		for _, e := range res.Deleted {
			got = append(got, e.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, maps) {
			t.Errorf("%+v would delete %v, want %v", o, got, maps)
		}
	}
	// A running one: exit 4.
	w.apacheApp(apacheV1, "jobs", "live", 0, "DriverReady", corev1.PodSucceeded)
	_, err = Cleanup(context.Background(), w.clients(), memLogger, CleanupOptions{Namespace: "jobs", SparkApp: "live", NoEvent: true})
	var running *StillRunningError
	if !errors.As(err, &running) || !strings.Contains(running.State, "DriverReady") {
		t.Fatalf("cleanup of a running Apache application: %v", err)
	}
}

// A driver Pod that is gone: cleanup --driver-pod still finds its
// application by the operator's naming (<name>-<attempt>-driver), so its
// state decides: a released one's maps go, and while the status says the
// application runs, nothing does (exit 4).
func TestCleanupOnTheStoreByAGoneApacheDriverPod(t *testing.T) {
	w := newBothWorld(t, apacheV1)
	maps := w.apacheApp(apacheV1, "jobs", "nightly", 3, "ResourceReleased", corev1.PodSucceeded)
	w.apacheApp(apacheV1, "jobs", "hourly", 1, "RunningHealthy", corev1.PodSucceeded)
	for _, pod := range []string{"nightly-3-driver", "hourly-1-driver"} {
		if err := w.s.Delete(podsGVR, "jobs", pod, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Cleanup(context.Background(), w.clients(), memLogger, CleanupOptions{Namespace: "jobs", DriverPod: "hourly-1-driver", NoEvent: true})
	var running *StillRunningError
	if !errors.As(err, &running) || !strings.Contains(running.State, "SparkApplication hourly is RunningHealthy") {
		t.Fatalf("the gone driver of a running application: %v, want StillRunningError naming it", err)
	}
	res, err := Cleanup(context.Background(), w.clients(), memLogger, CleanupOptions{Namespace: "jobs", DriverPod: "nightly-3-driver", NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Deleted {
		got = append(got, e.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, maps) {
		t.Fatalf("deleted %v, want %v; skipped %+v", got, maps, res.Skipped)
	}
}

// An Apache CRD that serves no version the tool reads (v1alpha1, removed in
// 1.0.0): the maps tied to its applications stay, naming the versions; the
// Kubeflow application's go as ever.
func TestSweepOnTheStoreKeepsTheMapsOfApacheApplicationsItCannotRead(t *testing.T) {
	alpha := schema.GroupVersionResource{Group: ApacheSparkGroup, Version: "v1alpha1", Resource: "sparkapplications"}
	w := newBothWorld(t, alpha)
	w.finishedApp("jobs")
	kept := w.apacheApp(alpha, "jobs", "pi", 0, "ResourceReleased", corev1.PodSucceeded)
	res, err := Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Deleted {
		if slices.Contains(kept, e.Name) {
			t.Errorf("deleted %s, whose application cannot be read", e.Name)
		}
	}
	n := 0
	for _, e := range res.Skipped {
		if slices.Contains(kept, e.Name) {
			n++
			if !strings.Contains(e.Reason, "serves version v1alpha1, the tool reads v1, v1beta1") {
				t.Errorf("%s kept because %q", e.Name, e.Reason)
			}
		}
	}
	if n != len(kept) || len(res.Deleted) != 3 {
		t.Fatalf("deleted %d, kept %d of %v; want the Kubeflow application's 3 deleted and every Apache map kept", len(res.Deleted), n, kept)
	}
}
