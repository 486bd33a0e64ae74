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

// sparkPod is a Spark Pod as the API server returns it, with what the
// controller does not read besides: more labels, annotations, another
// owner, a spec and container states.
func sparkPod(name, role, id string, phase corev1.PodPhase, owners ...metav1.OwnerReference) *corev1.Pod {
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
// holding pods, for the Pod handlers.
func handlerController(t *testing.T, pods ...*corev1.Pod) *Controller {
	t.Helper()
	ctl := unitController(t)
	ctl.stamps = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	t.Cleanup(ctl.stamps.ShutDown)
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &corev1.Pod{}, 0, cache.Indexers{byAppID: func(obj any) ([]string, error) {
		m, err := metaOf(obj)
		if err != nil || m.GetLabels()[rule.LabelAppSelector] == "" {
			return nil, err
		}
		return []string{m.GetNamespace() + "/" + m.GetLabels()[rule.LabelAppSelector]}, nil
	}})
	for _, p := range pods {
		if err := inf.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	ctl.pods = []cache.SharedIndexInformer{inf}
	return ctl
}

func (ctl *Controller) stampsQueued() []string {
	var out []string
	for ctl.stamps.Len() > 0 {
		k, _ := ctl.stamps.Get()
		ctl.stamps.Done(k)
		out = append(out, k)
	}
	return out
}

func trimmed(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	if p == nil {
		return nil
	}
	o, err := trimPod(p.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	return o.(*corev1.Pod)
}

// The Pod cache keeps of each Spark Pod only what the handlers read, and
// the handlers decide the same on the trimmed Pods as on the full ones:
// the same applications queued for cleanup, the same client-mode
// applications queued for the stamp.
func TestTheTrimmedPodCacheDecidesAsTheFullPods(t *testing.T) {
	kubeflow := metav1.OwnerReference{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: "pi", UID: "app", Controller: ptr.To(true)}
	apache := metav1.OwnerReference{APIVersion: "spark.apache.org/v1", Kind: "SparkApplication", Name: "pi", UID: "app"}
	driver := sparkPod("pi-driver", rule.RoleDriver, "spark-1", corev1.PodRunning, kubeflow)
	toPod := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "pi-driver", UID: "uid-pi-driver", Controller: ptr.To(true)}
	for _, tc := range []struct {
		name     string
		cached   []*corev1.Pod
		old, new *corev1.Pod
		deleted  bool
		none     bool // the full Pods queue nothing either
	}{
		{"a driver controlled by a Kubeflow application ends", nil, driver, sparkPod("pi-driver", rule.RoleDriver, "spark-1", corev1.PodSucceeded, kubeflow), false, false},
		{"an Apache driver ends", nil, sparkPod("d", rule.RoleDriver, "spark-2", corev1.PodRunning, apache), sparkPod("d", rule.RoleDriver, "spark-2", corev1.PodFailed, apache), false, false},
		{"a plain driver is deleted", nil, nil, sparkPod("plain-driver", rule.RoleDriver, "spark-3", corev1.PodRunning), true, false},
		{"an executor of a known driver ends", []*corev1.Pod{driver}, nil, sparkPod("pi-exec-1", rule.RoleExecutor, "spark-1", corev1.PodFailed, toPod), false, false},
		{"a client-mode executor runs", nil, nil, sparkPod("nb-exec-1", rule.RoleExecutor, "spark-4", corev1.PodRunning), false, false},
		{"an executor of a known driver runs", []*corev1.Pod{driver}, nil, sparkPod("pi-exec-2", rule.RoleExecutor, "spark-1", corev1.PodRunning, toPod), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := func(trim bool) ([]App, []string) {
				cached, old, p := tc.cached, tc.old, tc.new
				if trim {
					cached = nil
					for _, c := range tc.cached {
						cached = append(cached, trimmed(t, c))
					}
					old, p = trimmed(t, old), trimmed(t, p)
				}
				ctl := handlerController(t, cached...)
				switch {
				case tc.deleted:
					ctl.podDeleted(p)
				case old == nil:
					ctl.podChanged(nil, p)
				default:
					ctl.podChanged(old, p)
				}
				return ctl.queued(), ctl.stampsQueued()
			}
			fullApps, fullStamps := run(false)
			apps, stamps := run(true)
			if len(fullApps)+len(fullStamps) == 0 && !tc.none {
				t.Fatal("the full Pods queued nothing: the case proves nothing")
			}
			if !slices.Equal(apps, fullApps) || !slices.Equal(stamps, fullStamps) {
				t.Errorf("trimmed Pods queued %v and stamps %v, full Pods %v and %v", apps, stamps, fullApps, fullStamps)
			}
		})
	}
	// And nothing else is kept.
	got := trimmed(t, driver)
	want := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "pi-driver", UID: driver.UID, ResourceVersion: "42",
		Labels:          map[string]string{rule.LabelRole: rule.RoleDriver, rule.LabelAppSelector: "spark-1"},
		OwnerReferences: []metav1.OwnerReference{kubeflow}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
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
