package hook

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/retrytest"
)

// rerun moves the fake world's SparkApplication to state, as the operator
// does when its spec is edited.
func (w *fakeWorld) rerun(t *testing.T, state string) {
	t.Helper()
	apps := w.clients.Dynamic.Resource(store.SparkApplicationGVR).Namespace(fakeNS)
	u, err := apps.Get(context.Background(), "etl", metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	if err := unstructured.SetNestedField(u.Object, state, "status", "applicationState", "state"); err != nil {
		t.Error(err)
		return
	}
	if _, err := apps.Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

// startPodUsing starts a Running Pod that mounts map name.
func (w *fakeWorld) startPodUsing(t *testing.T, name string) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: fakeNS},
		Spec:   corev1.PodSpec{Volumes: []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if _, err := w.kube.CoreV1().Pods(fakeNS).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Error(err)
	}
}

func TestADeleteThatWaitedPastItsRecheckReadsAgainWhatItRestsOn(t *testing.T) {
	for _, tc := range []struct {
		name string
		// meanwhile happens while the first delete waits out its 429,
		// to the map that delete is for.
		meanwhile func(t *testing.T, w *fakeWorld, mapName string)
		want      string // why the first map is kept; "" when it is deleted
	}{
		{"a Pod that mounts the map starts while its delete waits out a 429",
			func(t *testing.T, w *fakeWorld, m string) { w.startPodUsing(t, m) }, "in use by Pod late (Running)"},
		{"the application is run again while its delete waits out a 429",
			func(t *testing.T, w *fakeWorld, _ string) { w.rerun(t, "PENDING_RERUN") }, "application still running: SparkApplication etl is now PENDING_RERUN"},
		{"nothing changes while its delete waits out a 429", func(*testing.T, *fakeWorld, string) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
			var first atomic.Value
			w.md.PrependReactor("delete", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
				name := a.(k8stesting.DeleteAction).GetName()
				if !first.CompareAndSwap(nil, name) {
					return false, nil, nil
				}
				w.deletes.Add(1)
				tc.meanwhile(t, w, name)
				// Longer than the bound: the retry comes after it.
				return true, nil, retrytest.TooManyRequests(int(2*DefaultRecheckBound.Seconds()) + 1)
			})
			res, err := w.cleanup(t, CleanupOptions{Concurrency: 1})
			if err != nil {
				t.Fatalf("cleanup: %v", err)
			}
			waited, _ := first.Load().(string)
			if waited == "" {
				t.Fatal("no delete was sent")
			}
			kept := map[string]string{}
			for _, e := range res.Skipped {
				kept[e.Name] = e.Reason
			}
			switch {
			case tc.want == "" && (len(res.Deleted) != 2 || len(kept) != 0):
				t.Fatalf("deleted %v, kept %v: want both deleted", res.Deleted, kept)
			case tc.want != "" && !strings.Contains(kept[waited], tc.want):
				t.Fatalf("%s: kept for %q (deleted %d maps), want %q", waited, kept[waited], len(res.Deleted), tc.want)
			}
		})
	}
}

func TestCleanupReadsTheApplicationAgainJustBeforeDeleting(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	// The last read before the deletes is the namespace's non-terminated
	// Pods (no label selector): the operator reruns the application just
	// as it is sent.
	var once atomic.Bool
	w.kube.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.ListAction).GetListRestrictions()
		if r.Labels.Empty() && !r.Fields.Empty() && once.CompareAndSwap(false, true) {
			w.rerun(t, "PENDING_RERUN")
		}
		return false, nil, nil
	})
	res, err := w.cleanup(t, CleanupOptions{})
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if !once.Load() {
		t.Fatal("the Pods were never read")
	}
	if w.deletes.Load() != 0 || len(res.Skipped) != 2 {
		t.Fatalf("%d deletes sent, %d maps kept: the maps of an application rerun after it was resolved went", w.deletes.Load(), len(res.Skipped))
	}
	for _, e := range res.Skipped {
		if !strings.Contains(e.Reason, "is now PENDING_RERUN") {
			t.Fatalf("%s kept for %q", e.Name, e.Reason)
		}
	}
}

func TestADeleteThrottledPastItsRecheckAgainAndAgainStaysInsideOneRetryBudget(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	var tries atomic.Int32
	w.md.PrependReactor("delete", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if tries.Add(1) > 50 {
			// A delete that re-checks and tries again forever: stop it
			// here, so that the test fails rather than hangs.
			return true, nil, apierrors.NewBadRequest("too many tries")
		}
		// Each Retry-After outlasts the bound: every try is preceded by a
		// re-check, which must not start the budget afresh.
		return true, nil, retrytest.TooManyRequests(int(2*DefaultRecheckBound.Seconds()) + 1)
	})
	res, err := w.cleanup(t, CleanupOptions{Concurrency: 1, Retry: RetryPolicy{Budget: 30 * time.Second, Initial: time.Second, Max: time.Second}})
	if !isPlainFailure(err) || len(res.Failed) != 2 {
		t.Fatalf("err %v, result %+v: want both maps failed", err, res)
	}
	// 30s of 7s Retry-Afters: five tries a map at most.
	if n := tries.Load(); n > 10 {
		t.Fatalf("%d deletes sent for 2 maps inside a 30s budget of 7s Retry-Afters", n)
	}
	for _, e := range res.Failed {
		if !strings.Contains(e.Reason, "retry budget of 30s was spent") {
			t.Fatalf("%s failed for %q", e.Name, e.Reason)
		}
	}
}

func TestADeleteWhoseRecheckKeepsTakingLongerThanTheBoundIsNotSent(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	ft := retrytest.NewFakeTime()
	var deletes, reads atomic.Int32
	w.md.PrependReactor("delete", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if deletes.Add(1) == 1 {
			return true, nil, retrytest.TooManyRequests(int(2*DefaultRecheckBound.Seconds()) + 1)
		}
		return false, nil, nil
	})
	w.kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		if deletes.Load() == 0 {
			return false, nil, nil
		}
		if reads.Add(1) > 50 {
			return true, nil, apierrors.NewBadRequest("too many re-reads")
		}
		// Every re-read of the Pods after the first delete takes longer
		// than the bound: by its answer, what it saw is already stale.
		_ = ft.Sleep(context.Background(), 2*DefaultRecheckBound)
		return false, nil, nil
	})
	o := CleanupOptions{Namespace: fakeNS, SparkApp: "etl", NoEvent: true, Concurrency: 1,
		Retry: ft.Apply(RetryPolicy{Budget: 5 * time.Minute, Initial: 100 * time.Millisecond, Max: time.Second})}
	res, err := Cleanup(context.Background(), w.clients, memLogger, o)
	if !isPlainFailure(err) || len(res.Failed) != 2 || len(res.Deleted) != 0 {
		t.Fatalf("err %v, result %+v: want both maps failed, none deleted", err, res)
	}
	for _, e := range res.Failed {
		if !strings.Contains(e.Reason, "took longer than 3s three times") {
			t.Fatalf("%s failed for %q", e.Name, e.Reason)
		}
	}
	if deletes.Load() != 1 {
		t.Fatalf("%d deletes sent; only the first, before the re-checks, should be", deletes.Load())
	}
}
