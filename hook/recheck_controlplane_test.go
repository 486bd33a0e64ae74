package hook_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// What a delete rests on besides the map itself (the Pods that use it, the
// application's state) can change between the last re-check and the
// delete. These tests change it in that window on the real API server.

// isDeleteOfMap, isPodsInUseList and isAppWatch tell the tool's requests
// apart on the wire.
func isDeleteOfMap(r *http.Request) bool {
	return r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/configmaps/")
}

// isPodsInUseList is the read of a namespace's non-terminated Pods, with
// no label selector: the re-check's, and cleanup's last read.
func isPodsInUseList(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/pods") &&
		strings.Contains(q.Get("fieldSelector"), "status.phase") && q.Get("labelSelector") == ""
}

func isAppWatch(r *http.Request) bool {
	return r.URL.Query().Get("watch") == "true" && strings.HasSuffix(r.URL.Path, "/sparkapplications")
}

// startPodUsing starts a Running Pod that mounts map m, without t.Fatal:
// it runs inside the tool's transport.
func startPodUsing(t *testing.T, ns, name, m string) {
	kube, _ := admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "main", Image: "busybox"}}, Volumes: []corev1.Volume{cmVolume(m)}}}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Errorf("start a Pod using %s: %v", m, err)
		return
	}
	if err := sparkfixture.SetPodPhase(ctx, kube, ns, name, corev1.PodRunning); err != nil {
		t.Errorf("start a Pod using %s: %v", m, err)
	}
}

func TestSweepKeepsAMapAPodStartedUsingWhileItsDeleteWasHeldByThrottlingPastItsRecheck(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	kube, admins := admin(t)
	apps, err := sparkfixture.Bulk(ctxFor(t), kube, admins.Dynamic, ns, 500, sparkfixture.BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, a := range apps {
		all = append(all, a.MapNames()...)
	}
	cfg := serviceAccountWithRole(t, ns, "held")
	// Three seats (the least API Priority and Fairness can grant next to the
	// built-in levels): the sweep's deletes meet the API server's own 429s.
	level, err := cp.Get(t).ThrottleServiceAccount(ctxFor(t), ns, "held", 3)
	if err != nil {
		t.Fatal(err)
	}
	rejectedBefore, _ := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	var (
		once sync.Once
		held string
	)
	throttled := clientsFor(t, cfg, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err != nil || !isDeleteOfMap(r) || resp.StatusCode != http.StatusTooManyRequests {
				return resp, err
			}
			once.Do(func() {
				// The first DELETE the API server turned away: a Pod
				// starts mounting its map while the delete waits, and the
				// 429 reaches the tool only once the re-check before it is
				// older than the bound, so that its next try is surely
				// sent past it.
				held = path.Base(r.URL.Path)
				startPodUsing(t, ns, "late-reader", held)
				time.Sleep(hook.DefaultRecheckBound + time.Second)
			})
			return resp, err
		})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := hook.Sweep(ctx, throttled, testLog(t), hook.SweepOptions{Namespace: ns})
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	rejected, err := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	if err != nil || rejected-rejectedBefore == 0 {
		t.Fatalf("kube-apiserver rejected nothing on %s (%v): the test proves nothing", level, err)
	}
	if held == "" {
		t.Fatal("no DELETE was answered 429: the test proves nothing")
	}
	if !contains(mapNames(t, ns), held) {
		t.Fatalf("%s was deleted though a Pod started using it while its delete waited (%d maps deleted)", held, len(res.Deleted))
	}
	if r := skipReasons(res)[held]; !strings.Contains(r, "in use by Pod late-reader (Running)") {
		t.Fatalf("%s kept for %q", held, r)
	}
	if got, want := names(res.Deleted), without(all, held); !equal(got, want) {
		t.Fatalf("deleted %d maps, want %d", len(got), len(want))
	}
	t.Logf("%s kept; %d maps deleted in %s; kube-apiserver rejected %.0f requests", held, len(res.Deleted), res.Elapsed.Round(time.Millisecond), rejected-rejectedBefore)
}

func TestCleanupsKeepAMapAPodStartedUsingWhileItsDeleteWasHeldByThrottlingPastItsRecheck(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	var apps []*sparkfixture.App
	for range 12 {
		apps = append(apps, newApp(t, ns, sparkfixture.Spec{PodTemplate: true, Hadoop: true, Krb5: true}))
	}
	// The Airflow tasks that finish together clean up as one identity with
	// three seats: their deletes meet the API server's own 429s.
	cfg := serviceAccountWithRole(t, ns, "held")
	level, err := cp.Get(t).ThrottleServiceAccount(ctxFor(t), ns, "held", 3)
	if err != nil {
		t.Fatal(err)
	}
	rejectedBefore, _ := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	var (
		once sync.Once
		held string
	)
	hold := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && isDeleteOfMap(r) && resp.StatusCode == http.StatusTooManyRequests {
				once.Do(func() {
					// As in the sweep's test: a Pod starts using the map
					// while its delete waits past the bound.
					held = path.Base(r.URL.Path)
					startPodUsing(t, ns, "late-reader", held)
					time.Sleep(hook.DefaultRecheckBound + time.Second)
				})
			}
			return resp, err
		})
	}
	var wg sync.WaitGroup
	results := make([]*hook.Result, len(apps))
	errs := make([]error, len(apps))
	for i, app := range apps {
		wg.Go(func() {
			results[i], errs[i] = cleanup(t, clientsFor(t, cfg, hold), hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
		})
	}
	wg.Wait()
	rejected, _ := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	if rejected-rejectedBefore == 0 || held == "" {
		t.Fatalf("kube-apiserver rejected %.0f requests on %s, no DELETE held: the test proves nothing", rejected-rejectedBefore, level)
	}
	if !contains(mapNames(t, ns), held) {
		t.Fatalf("%s was deleted though a Pod started using it while its delete waited", held)
	}
	var deleted []string
	for i, app := range apps {
		if errs[i] != nil {
			t.Errorf("cleanup of %s: %v", app.Name, errs[i])
			continue
		}
		deleted = append(deleted, names(results[i].Deleted)...)
		if r, ok := skipReasons(results[i])[held]; ok && !strings.Contains(r, "in use by Pod late-reader (Running)") {
			t.Errorf("%s kept for %q", held, r)
		}
	}
	var all []string
	for _, app := range apps {
		all = append(all, app.MapNames()...)
	}
	if got, want := sorted(deleted), without(all, held); !equal(got, want) {
		t.Fatalf("deleted %d maps, want %d", len(got), len(want))
	}
}

// withheld is a watch's stream that delivers nothing until it is closed:
// a watch lagging behind what the API server stored.
type withheld struct {
	io.ReadCloser
	closed chan struct{}
	once   sync.Once
}

func (w *withheld) Read([]byte) (int, error) {
	<-w.closed
	return 0, io.EOF
}

func (w *withheld) Close() error {
	w.once.Do(func() { close(w.closed) })
	return w.ReadCloser.Close()
}

func TestSweepReadsTheApplicationAgainThoughItsWatchHasNotDeliveredARerun(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	_, admins := admin(t)
	var (
		once     sync.Once
		mu       sync.Mutex
		watching bool
	)
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isPodsInUseList(r) {
				// The re-check before the batch: the application's spec was
				// edited and the operator moved it to PENDING_RERUN.
				once.Do(func() {
					if err := sparkfixture.SetState(context.Background(), admins.Dynamic, ns, app.Name, sparkfixture.StatePendingRerun); err != nil {
						t.Errorf("rerun: %v", err)
					}
				})
			}
			resp, err := rt.RoundTrip(r)
			if err == nil && isAppWatch(r) && resp.StatusCode == http.StatusOK {
				mu.Lock()
				watching = true
				mu.Unlock()
				resp.Body = &withheld{ReadCloser: resp.Body, closed: make(chan struct{})}
			}
			return resp, err
		})
	})
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !watching {
		t.Fatal("the sweep never watched its SparkApplications: the test proves nothing")
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("deleted %v of an application rerun before its batch, which the watch had not delivered", names(res.Deleted))
	}
	for _, n := range app.MapNames() {
		if r := skipReasons(res)[n]; !strings.Contains(r, "is now "+sparkfixture.StatePendingRerun) {
			t.Errorf("%s: reason %q", n, r)
		}
	}
}

func TestCleanupReadsTheApplicationAgainJustBeforeDeletingItsMaps(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	_, admins := admin(t)
	var once sync.Once
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if isPodsInUseList(r) {
				// Cleanup's last read before its deletes, long after it
				// resolved the application: it is rerun meanwhile.
				once.Do(func() {
					if err := sparkfixture.SetState(context.Background(), admins.Dynamic, ns, app.Name, sparkfixture.StatePendingRerun); err != nil {
						t.Errorf("rerun: %v", err)
					}
				})
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || !equal(mapNames(t, ns), sorted(app.MapNames())) {
		t.Fatalf("deleted %v of an application rerun after cleanup resolved it", names(res.Deleted))
	}
	for _, n := range app.MapNames() {
		if r := skipReasons(res)[n]; !strings.Contains(r, "is now "+sparkfixture.StatePendingRerun) {
			t.Errorf("%s: reason %q", n, r)
		}
	}
}

// retrySubmissions gives a SparkApplication the restart policy OnFailure
// with retries submission retries, and records attempts submissions.
func retrySubmissions(t *testing.T, ns, name string, retries, attempts int64) {
	t.Helper()
	_, admins := admin(t)
	apps := admins.Dynamic.Resource(store.SparkApplicationGVR).Namespace(ns)
	u, err := apps.Get(ctxFor(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedMap(u.Object, map[string]any{"type": "OnFailure", "onSubmissionFailureRetries": retries}, "spec", "restartPolicy"); err != nil {
		t.Fatal(err)
	}
	if u, err = apps.Update(ctxFor(t), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(u.Object, attempts, "status", "submissionAttempts"); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.UpdateStatus(ctxFor(t), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestASubmissionFailedApplicationKeepsItsMapsWhileTheOperatorWillSubmitItAgain(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		name              string
		retries, attempts int64
		keep              bool
	}{
		{"submission retries left", 2, 1, true},
		{"the last submission retry left", 2, 2, true},
		{"submission retries spent", 2, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := cp.NewNamespace(t)
			app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateSubmissionFailed, DriverPhase: corev1.PodFailed, PodTemplate: true})
			retrySubmissions(t, ns, app.Name, tc.retries, tc.attempts)
			_, c := admin(t)
			cres, cerr := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name, DryRun: true})
			var still *hook.StillRunningError
			if tc.keep != errors.As(cerr, &still) {
				t.Fatalf("cleanup: err %v, would delete %v", cerr, names(cres.Deleted))
			}
			if tc.keep && !strings.Contains(still.State, "the operator submits it again") {
				t.Fatalf("cleanup: state %q", still.State)
			}
			res, err := sweep(t, c, hook.SweepOptions{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.keep {
				if !equal(names(res.Deleted), sorted(app.MapNames())) {
					t.Fatalf("deleted %v, want every map of an application the operator gave up on", names(res.Deleted))
				}
				return
			}
			if len(res.Deleted) != 0 {
				t.Fatalf("deleted %v of an application the operator will submit again", names(res.Deleted))
			}
			for _, n := range app.MapNames() {
				if r := skipReasons(res)[n]; !strings.Contains(r, "the operator submits it again") {
					t.Errorf("%s: reason %q", n, r)
				}
			}
		})
	}
}
