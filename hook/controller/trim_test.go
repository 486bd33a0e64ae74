package controller

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store/memstore"
)

// fullPod is a Spark Pod as the API server returns it, with what the
// controller does not read besides: more labels, annotations, another
// owner, a spec and container states.
func fullPod(name, role, id string, phase corev1.PodPhase, owners ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: name, UID: "uid-" + types.UID(name), ResourceVersion: "42",
			Labels:            map[string]string{rule.LabelRole: role, rule.LabelAppSelector: id, "spark-app-name": "pi", "spark-exec-id": "1", "team": "data"},
			Annotations:       map[string]string{"note": "x"},
			OwnerReferences:   append([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "other", UID: "rs"}}, owners...),
			CreationTimestamp: metav1.Now(), Finalizers: []string{"f"}},
		Spec: corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{Name: "spark-kubernetes-driver", Image: "spark"}}},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: "spark-kubernetes-driver",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.Now()}}}}},
	}
}

// handlerController is a controller with its queues and a Pod cache
// holding pods (through the informer's transform), for the Pod handlers.
func handlerController(t *testing.T, pods ...*corev1.Pod) *Controller {
	t.Helper()
	ctl := unitController(t)
	ctl.stamps = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	t.Cleanup(ctl.stamps.ShutDown)
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Pod{}, 0, cache.Indexers{byAppID: podsByAppID})
	for _, p := range pods {
		if err := inf.GetIndexer().Add(trimmed(t, p)); err != nil {
			t.Fatal(err)
		}
	}
	ctl.pods = []cache.SharedIndexInformer{inf}
	return ctl
}

func (ctl *Controller) stampsQueued() []string { return drain(ctl.stamps) }

// trimmed is what the informer's transform keeps of p (nil stays nil).
func trimmed(t *testing.T, p *corev1.Pod) any {
	t.Helper()
	if p == nil {
		return nil
	}
	o, err := trimPod(p.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The Pod cache keeps of each Spark Pod only what the handlers read, and
// on what it keeps the handlers queue what the full Pods mean: the
// application of a driver that ended (through the SparkApplication that
// controls it), of an executor whose driver is known, and the stamp of a
// client-mode application whose executor runs.
func TestTheTrimmedPodCacheKeepsWhatTheHandlersDecideBy(t *testing.T) {
	kubeflow := metav1.OwnerReference{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: "pi", UID: "app", Controller: ptr.To(true)}
	apache := metav1.OwnerReference{APIVersion: "spark.apache.org/v1", Kind: "SparkApplication", Name: "pi", UID: "app"}
	driver := fullPod("pi-driver", rule.RoleDriver, "spark-1", corev1.PodRunning, kubeflow)
	toPod := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "pi-driver", UID: "uid-pi-driver", Controller: ptr.To(true)}
	kubeflowPi := App{Namespace: "jobs", SparkApp: "pi", Operator: hook.OperatorKubeflow}
	for _, tc := range []struct {
		name       string
		cached     []*corev1.Pod
		old, new   *corev1.Pod
		deleted    bool
		wantApps   []App
		wantStamps []string
	}{
		{"a driver controlled by a Kubeflow application ends", nil, driver, fullPod("pi-driver", rule.RoleDriver, "spark-1", corev1.PodSucceeded, kubeflow), false,
			[]App{kubeflowPi}, nil},
		{"a driver seen ended again", nil, fullPod("pi-driver", rule.RoleDriver, "spark-1", corev1.PodFailed, kubeflow), fullPod("pi-driver", rule.RoleDriver, "spark-1", corev1.PodFailed, kubeflow), false,
			nil, nil},
		{"an Apache driver ends", nil, fullPod("d", rule.RoleDriver, "spark-2", corev1.PodRunning, apache), fullPod("d", rule.RoleDriver, "spark-2", corev1.PodFailed, apache), false,
			[]App{{Namespace: "jobs", DriverPod: "d"}}, nil},
		{"a plain driver is deleted", nil, nil, fullPod("plain-driver", rule.RoleDriver, "spark-3", corev1.PodRunning), true,
			[]App{{Namespace: "jobs", DriverPod: "plain-driver"}}, nil},
		{"an executor of a known driver ends", []*corev1.Pod{driver}, nil, fullPod("pi-exec-1", rule.RoleExecutor, "spark-1", corev1.PodFailed, toPod), false,
			[]App{kubeflowPi}, nil},
		{"a client-mode executor runs", nil, nil, fullPod("nb-exec-1", rule.RoleExecutor, "spark-4", corev1.PodRunning), false,
			nil, []string{"jobs/spark-4"}},
		{"an executor of a known driver runs", []*corev1.Pod{driver}, nil, fullPod("pi-exec-2", rule.RoleExecutor, "spark-1", corev1.PodRunning, toPod), false,
			nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := handlerController(t, tc.cached...)
			if tc.deleted {
				ctl.podDeleted(trimmed(t, tc.new))
			} else {
				ctl.podChanged(trimmed(t, tc.old), trimmed(t, tc.new))
			}
			if apps, stamps := ctl.queued(), ctl.stampsQueued(); !slices.Equal(apps, tc.wantApps) || !slices.Equal(stamps, tc.wantStamps) {
				t.Errorf("queued %v and stamps %v, want %v and %v", apps, stamps, tc.wantApps, tc.wantStamps)
			}
		})
	}
	// And nothing else is kept.
	got := trimmed(t, driver)
	want := &sparkPod{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "pi-driver", UID: driver.UID, ResourceVersion: "42"},
		Role: rule.RoleDriver, AppID: "spark-1", Phase: corev1.PodRunning, App: "pi", Operator: hook.OperatorKubeflow}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trimmed driver\n%+v\nwant\n%+v", got, want)
	}
}

// countingStore counts the map lists it answers.
type countingStore struct {
	store.Store
	lists atomic.Int32
}

func (s *countingStore) ListMaps(ctx context.Context, ns string, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	s.lists.Add(1)
	return s.Store.ListMaps(ctx, ns, opts)
}

// A client-mode application's executor maps are listed for the stamp at
// most once per stamp interval, however often its running executors are
// seen (each update of one queues the stamp), and stamped through that
// list.
func TestAClientModeApplicationsMapsAreListedForTheStampOncePerInterval(t *testing.T) {
	mem := memstore.New()
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "spark-exec-abc-conf-map",
		Labels: map[string]string{rule.LabelAppSelector: "spark-4", rule.LabelRole: rule.RoleExecutor}}}
	if _, err := mem.Create(store.ConfigMapsGVR, cm); err != nil {
		t.Fatal(err)
	}
	s := &countingStore{Store: mem}
	ctl := &Controller{c: hook.Clients{Store: s}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), stamped: map[string]time.Time{}}
	for range 3 {
		if err := ctl.stamp(t.Context(), "jobs/spark-4"); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.lists.Load(); got != 1 {
		t.Fatalf("three stamps within the interval listed the maps %d times, want 1", got)
	}
	m, err := mem.GetMap(t.Context(), "jobs", cm.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rule.LastActive(&m.ObjectMeta).IsZero() {
		t.Errorf("the executor map was not stamped: %v", m.Annotations)
	}
	// An interval later, the next sighting lists (and stamps) again.
	ctl.stamped["jobs/spark-4"] = ctl.stamped["jobs/spark-4"].Add(-hook.LastActiveEvery)
	if err := ctl.stamp(t.Context(), "jobs/spark-4"); err != nil {
		t.Fatal(err)
	}
	if got := s.lists.Load(); got != 2 {
		t.Errorf("a stamp an interval later listed the maps %d times in all, want 2", got)
	}
}
