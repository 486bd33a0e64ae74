package hook_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// Watches and paged lists outlive an etcd compaction on a busy cluster:
// the API server then answers 410 Gone (or Expired), and the tool must
// start over from a fresh read, never give up or judge on stale data.

func isWatchOf(r *http.Request, resource string) bool {
	return r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true" && strings.HasSuffix(r.URL.Path, "/"+resource)
}

// finishLater moves the driver Pod to Succeeded after d, as the kubelet
// would once Spark's driver exits.
func finishLater(t *testing.T, ns, pod string, d time.Duration) {
	kube, _ := admin(t)
	go func() {
		time.Sleep(d)
		if err := sparkfixture.SetPodPhase(context.Background(), kube, ns, pod, corev1.PodSucceeded); err != nil {
			t.Errorf("finish the driver: %v", err)
		}
	}()
}

func TestCleanupWaitStartsOverWhenItsWatchIsAnswered410Gone(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning})
	var gone atomic.Int32
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isWatchOf(r, "pods") && gone.Add(1) <= 2 {
				// What the watch cache answers a resourceVersion it no
				// longer holds.
				return statusAnswer(http.StatusGone, metav1.StatusReasonExpired), nil
			}
			return rt.RoundTrip(r)
		})
	})
	finishLater(t, ns, app.DriverPod, 2*time.Second)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: app.DriverPod, Wait: time.Minute})
	if err != nil {
		t.Fatalf("a watch answered 410 Gone ended the wait: %v", err)
	}
	if gone.Load() < 2 {
		t.Fatal("the watch was never answered 410: the test proves nothing")
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

// compactBeforeWatch writes and compacts etcd just before the first watch
// of resource reaches the API server: the watch starts from a revision
// that no longer exists.
func compactBeforeWatch(t *testing.T, c *kubecluster.ControlPlane, ns, resource string, compacted *atomic.Int32) hook.Clients {
	kube := kubeFor(t, c.AdminConfig())
	return clientsFor(t, c.AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isWatchOf(r, resource) && compacted.Add(1) == 1 {
				if _, err := kube.CoreV1().ConfigMaps(ns).Create(r.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written-before-the-watch"}}, metav1.CreateOptions{}); err != nil {
					t.Errorf("write: %v", err)
				}
				if err := c.CompactEtcd(r.Context()); err != nil {
					t.Errorf("compact etcd: %v", err)
				}
			}
			return rt.RoundTrip(r)
		})
	})
}

func TestWatchStartsOverWhenEtcdCompactedTheRevisionItWatchesFrom(t *testing.T) {
	skipShort(t)
	// Without the watch cache the API server watches etcd itself, and a
	// watch from a compacted revision ends with a 410 error event.
	etcdOnly := kubecluster.ForTest(t, kubecluster.Options{APIServerFlags: []string{"--watch-cache=false"}})
	ns := etcdOnly.NewNamespace(t)
	admins, kube := clientsFor(t, etcdOnly.AdminConfig(), nil), kubeFor(t, etcdOnly.AdminConfig())
	app, err := sparkfixture.Create(ctxFor(t), kube, admins.Dynamic, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, PodTemplate: true})
	if err != nil {
		t.Fatal(err)
	}
	var compacted atomic.Int32
	c := compactBeforeWatch(t, etcdOnly, ns, "pods", &compacted)
	go func() {
		time.Sleep(2 * time.Second)
		p, err := kube.CoreV1().Pods(ns).Get(context.Background(), app.DriverPod, metav1.GetOptions{})
		if err == nil {
			now := metav1.Now()
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: rule.DefaultDriverContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: now}}}}
			_, err = kube.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Errorf("end the driver container: %v", err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := hook.Watch(ctx, c, testLog(t), hook.WatchOptions{Namespace: ns, Pod: app.DriverPod})
	if compacted.Load() == 0 {
		t.Fatal("no watch was opened: the test proves nothing")
	}
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

func TestCleanupStartsItsFullMapListOverWhenItsContinueTokenExpired(t *testing.T) {
	skipShort(t)
	etcdOnly := kubecluster.ForTest(t, kubecluster.Options{APIServerFlags: []string{"--watch-cache=false"}})
	ns := etcdOnly.NewNamespace(t)
	admins, kube := clientsFor(t, etcdOnly.AdminConfig(), nil), kubeFor(t, etcdOnly.AdminConfig())
	// The driver Pod is gone: cleanup pages through every map to find the
	// ones its name owns, among many others.
	app, err := sparkfixture.Create(ctxFor(t), kube, admins.Dynamic, ns, sparkfixture.Spec{NoSparkApplication: true, PodTemplate: true, Hadoop: true})
	if err != nil {
		t.Fatal(err)
	}
	// No garbage collector runs here: the maps keep their owner reference
	// to the deleted driver.
	if err := kube.CoreV1().Pods(ns).Delete(ctxFor(t), app.DriverPod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// More than one page (500) of other maps.
	const others = 600
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < others; i += 8 {
				if _, err := kube.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("service-config-%d", i)}}, metav1.CreateOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var firstPages, compacted atomic.Int32
	var expired atomic.Bool
	c := clientsFor(t, etcdOnly.AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			q := r.URL.Query()
			full := r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && q.Get("labelSelector") == "" && q.Get("watch") == ""
			if full && q.Get("continue") == "" {
				firstPages.Add(1)
			}
			if full && q.Get("continue") != "" && compacted.CompareAndSwap(0, 1) {
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
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: app.DriverPod})
	if !expired.Load() {
		t.Fatal("the API server never answered 410: the test proves nothing")
	}
	if err != nil {
		t.Fatalf("cleanup: %v", err)
	}
	if firstPages.Load() < 2 {
		t.Fatalf("the full list was started %d time(s), want a fresh start after the 410", firstPages.Load())
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
	left, err := kube.CoreV1().ConfigMaps(ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil || len(left.Items) < others {
		t.Fatalf("%d maps left (%v), want the %d others", len(left.Items), err, others)
	}
}
