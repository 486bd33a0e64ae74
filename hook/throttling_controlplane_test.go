package hook_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The API server's own API Priority and Fairness throttles the tool here:
// the 429s and their Retry-After come from kube-apiserver, not from a test
// double.

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a control plane")
	}
}

// scaleMaps is how many maps the large fault tests sweep: SPARKCM_FAULT_MAPS
// (make reliability sets 10000), else def.
func scaleMaps(t *testing.T, def int) int {
	if s := os.Getenv("SPARKCM_FAULT_MAPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 {
			t.Fatalf("SPARKCM_FAULT_MAPS=%q", s)
		}
		return n
	}
	return def
}

// serviceAccountWithRole makes ServiceAccount ns/name, grants it the
// documented Role, and returns its config once RBAC lets it list maps.
func serviceAccountWithRole(t *testing.T, ns, name string) *rest.Config {
	t.Helper()
	kube, _ := admin(t)
	ctx := ctxFor(t)
	role := cleanupRole(ns)
	role.Name = "sparkcm-hook-" + name
	if _, err := kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	cfg, err := cp.Get(t).ServiceAccountConfig(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	probe := kubeFor(t, cfg)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// The binding reaches the authorizer through a watch.
		_, err := probe.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil {
			return cfg
		}
		if time.Now().After(deadline) {
			t.Fatalf("the role never applied: %v", err)
		}
	}
}

// retryAfterLog checks, below client-go, that no request is sent again
// sooner than the Retry-After its 429 asked for, and counts the 429s.
type retryAfterLog struct {
	mu        sync.Mutex
	due       map[string]time.Time // method+URL -> not before
	throttled int
	early     []string
}

func (l *retryAfterLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		key := r.Method + " " + r.URL.String()
		l.mu.Lock()
		if due, ok := l.due[key]; ok && time.Now().Before(due) {
			l.early = append(l.early, fmt.Sprintf("%s %s early", key, time.Until(due).Round(time.Millisecond)))
		}
		l.mu.Unlock()
		resp, err := rt.RoundTrip(r)
		if err == nil && resp.StatusCode == http.StatusTooManyRequests {
			ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			l.mu.Lock()
			l.throttled++
			if l.due == nil {
				l.due = map[string]time.Time{}
			}
			// A little slack for the clock readings on both sides.
			l.due[key] = time.Now().Add(time.Duration(ra)*time.Second - 50*time.Millisecond)
			l.mu.Unlock()
		}
		return resp, err
	})
}

// keepers puts into ns what no run may delete: a map a Running Pod mounts
// (through an env reference), one annotated keep, and a running
// application's maps. It returns their names.
func keepers(t *testing.T, ns string, victim string) []string {
	t.Helper()
	running := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, PodTemplate: true})
	kept := newApp(t, ns, sparkfixture.Spec{NoExecutorMap: true})
	kube, _ := admin(t)
	m, err := kube.CoreV1().ConfigMaps(ns).Get(ctxFor(t), kept.DriverConfMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m.Annotations = map[string]string{rule.AnnotationKeep: "true"}
	if _, err := kube.CoreV1().ConfigMaps(ns).Update(ctxFor(t), m, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "consumer"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "main", Image: "busybox", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: victim}}}},
	}}}}, corev1.PodRunning)
	return append([]string{victim, kept.DriverConfMap}, running.MapNames()...)
}

func TestSweepThrottledByTheAPIServersPriorityAndFairnessDeletesOnlyWhatItShouldAndHonoursRetryAfter(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	kube, c := admin(t)
	apps, err := sparkfixture.Bulk(ctxFor(t), kube, c.Dynamic, ns, scaleMaps(t, 1000), sparkfixture.BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, a := range apps {
		all = append(all, a.MapNames()...)
	}
	keep := keepers(t, ns, all[0])
	cfg := serviceAccountWithRole(t, ns, "throttled")
	level, err := cp.Get(t).ThrottleServiceAccount(ctxFor(t), ns, "throttled", 3)
	if err != nil {
		t.Fatal(err)
	}
	rejectedBefore, _ := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	log := &retryAfterLog{}
	throttled := clientsFor(t, cfg, log.wrap)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := hook.Sweep(ctx, throttled, testLog(t), hook.SweepOptions{Namespace: ns, OlderThan: 0})
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	rejected, err := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	if err != nil || rejected-rejectedBefore == 0 {
		t.Fatalf("kube-apiserver rejected nothing on %s (%v): the test proves nothing", level, err)
	}
	if got, want := names(res.Deleted), without(all, keep...); !equal(got, want) {
		t.Fatalf("deleted %d maps, want %d", len(got), len(want))
	}
	left := mapNames(t, ns)
	for _, k := range keep {
		if !contains(left, k) {
			t.Errorf("%s was deleted", k)
		}
	}
	if len(log.early) > 0 {
		t.Errorf("%d request(s) sent again before their Retry-After, e.g. %s", len(log.early), log.early[0])
	}
	if res.Throttled != log.throttled || res.Retries < res.Throttled {
		t.Errorf("result counts %d retries, %d throttled; the wire saw %d 429s", res.Retries, res.Throttled, log.throttled)
	}
	t.Logf("%d maps deleted in %s; kube-apiserver rejected %.0f requests, the result counts %d retries (%d throttled)",
		len(res.Deleted), res.Elapsed.Round(time.Millisecond), rejected-rejectedBefore, res.Retries, res.Throttled)
}

func TestCleanupsThrottledByTheAPIServersPriorityAndFairnessAllFinish(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	var apps []*sparkfixture.App
	for range 12 {
		apps = append(apps, newApp(t, ns, sparkfixture.Spec{PodTemplate: true, Hadoop: true, Krb5: true}))
	}
	keep := keepers(t, ns, apps[0].DriverConfMap)
	// The Airflow tasks that finish together all clean up as one identity,
	// which API Priority and Fairness grants three seats (the least it can
	// grant next to the built-in levels).
	cfg := serviceAccountWithRole(t, ns, "airflow")
	level, err := cp.Get(t).ThrottleServiceAccount(ctxFor(t), ns, "airflow", 3)
	if err != nil {
		t.Fatal(err)
	}
	rejectedBefore, _ := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	var wg sync.WaitGroup
	results := make([]*hook.Result, len(apps))
	errs := make([]error, len(apps))
	logs := make([]*retryAfterLog, len(apps))
	for i, app := range apps {
		logs[i] = &retryAfterLog{}
		wg.Go(func() {
			// One process per task: each has its own clients.
			results[i], errs[i] = cleanup(t, clientsFor(t, cfg, logs[i].wrap), hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
		})
	}
	wg.Wait()
	throttled, onWire, early := 0, 0, []string(nil)
	for _, l := range logs {
		onWire += l.throttled
		early = append(early, l.early...)
	}
	for i, app := range apps {
		want := app.MapNames()
		if i == 0 {
			want = without(want, app.DriverConfMap) // a Running Pod uses it
		}
		if errs[i] != nil || !equal(names(results[i].Deleted), sorted(want)) {
			t.Errorf("cleanup of %s: err %v, deleted %v, want %v", app.Name, errs[i], names(results[i].Deleted), sorted(want))
		}
		throttled += results[i].Throttled
	}
	rejected, _ := cp.Get(t).Metric(ctxFor(t), "apiserver_flowcontrol_rejected_requests_total", "priority_level", level)
	if rejected-rejectedBefore == 0 {
		t.Fatalf("kube-apiserver rejected nothing on %s: the test proves nothing", level)
	}
	left := mapNames(t, ns)
	for _, k := range keep {
		if !contains(left, k) {
			t.Errorf("%s was deleted", k)
		}
	}
	if len(early) > 0 {
		t.Errorf("%d request(s) sent again before their Retry-After, e.g. %s", len(early), early[0])
	}
	if throttled != onWire {
		t.Errorf("the results count %d throttled answers, the wire saw %d", throttled, onWire)
	}
	t.Logf("%d cleanups; kube-apiserver rejected %.0f requests, the results count %d throttled", len(apps), rejected-rejectedBefore, throttled)
}
