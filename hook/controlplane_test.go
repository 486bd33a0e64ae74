package hook_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// cp is one real control plane (etcd + kube-apiserver, no
// controller-manager: nothing garbage-collects behind the tests' back)
// shared by this package's tests; each test works in its own namespace.
// It starts with the first test that needs it (cp.Get, cp.NewNamespace).
var cp = kubecluster.NewShared(kubecluster.Options{})

func TestMain(m *testing.M) {
	code := cp.RunMain(m)
	apacheCP.Stop()
	os.Exit(code)
}

func testLog(_ *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requestLog counts the API requests a client makes, by method.
type requestLog struct {
	mu    sync.Mutex
	count map[string]int
	total atomic.Int64
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.total.Add(1)
		l.mu.Lock()
		if l.count == nil {
			l.count = map[string]int{}
		}
		l.count[r.Method]++
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// clientsFor builds the library's clients on cfg, optionally wrapping the
// transport (to count requests or to act between the tool's requests).
func clientsFor(t *testing.T, cfg *rest.Config, wrap func(http.RoundTripper) http.RoundTripper) hook.Clients {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	if wrap != nil {
		cfg.Wrap(wrap)
	}
	c, err := hook.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// kubeFor is client-go's clientset on cfg, for what the tests create and
// read beside the tool: the tool's own clients (hook.Clients.Kube) reach
// only what the tool uses.
func kubeFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube
}

func admin(t *testing.T) (kubernetes.Interface, hook.Clients) {
	cfg := cp.Get(t).AdminConfig()
	return kubeFor(t, cfg), clientsFor(t, cfg, nil)
}

func newApp(t *testing.T, ns string, spec sparkfixture.Spec) *sparkfixture.App {
	t.Helper()
	kube, c := admin(t)
	app, err := sparkfixture.Create(ctxFor(t), kube, c.Dynamic, ns, spec)
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return app
}

// mapNames lists the namespace's ConfigMaps (kube-root-ca.crt aside).
func mapNames(t *testing.T, ns string) []string {
	t.Helper()
	kube, _ := admin(t)
	list, err := kube.CoreV1().ConfigMaps(ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list.Items {
		if m.Name != "kube-root-ca.crt" {
			names = append(names, m.Name)
		}
	}
	sort.Strings(names)
	return names
}

func mapUIDs(t *testing.T, ns string) map[string]string {
	t.Helper()
	kube, _ := admin(t)
	list, err := kube.CoreV1().ConfigMaps(ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range list.Items {
		out[m.Name] = string(m.UID)
	}
	return out
}

func names(entries []hook.Entry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func without(all []string, remove ...string) []string {
	drop := map[string]bool{}
	for _, r := range remove {
		drop[r] = true
	}
	var out []string
	for _, a := range all {
		if !drop[a] {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func createMap(t *testing.T, ns string, cm *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	kube, _ := admin(t)
	created, err := kube.CoreV1().ConfigMaps(ns).Create(ctxFor(t), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// createPod creates a Pod and moves it to phase through the status
// subresource (there is no kubelet).
func createPod(t *testing.T, ns string, pod *corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	kube, _ := admin(t)
	if len(pod.Spec.Containers) == 0 {
		pod.Spec.Containers = []corev1.Container{{Name: "main", Image: "busybox"}}
	}
	created, err := kube.CoreV1().Pods(ns).Create(ctxFor(t), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if phase != corev1.PodPending {
		if err := sparkfixture.SetPodPhase(ctxFor(t), kube, ns, created.Name, phase); err != nil {
			t.Fatal(err)
		}
	}
	return created
}

func deletePod(t *testing.T, ns, name string) {
	t.Helper()
	kube, _ := admin(t)
	if err := kube.CoreV1().Pods(ns).Delete(ctxFor(t), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

func cmVolume(name string) corev1.Volume {
	return corev1.Volume{Name: "v-" + name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}
}

// bulkMaps leaves n leftover maps of finished applications in ns and
// returns their names.
func bulkMaps(t *testing.T, ns string, n int) []string {
	t.Helper()
	kube, c := admin(t)
	apps, err := sparkfixture.Bulk(ctxFor(t), kube, c.Dynamic, ns, n, sparkfixture.BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, a.MapNames()...)
	}
	return names
}

// bindRole creates the Role in its namespace and binds it to the
// ServiceAccount saNS/sa.
func bindRole(t *testing.T, role *rbacv1.Role, saNS, sa string) {
	t.Helper()
	kube, _ := admin(t)
	if _, err := kube.RbacV1().Roles(role.Namespace).Create(ctxFor(t), role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(role.Namespace).Create(ctxFor(t), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: saNS}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// serviceAccount creates a ServiceAccount and returns clients that
// authenticate with its token.
func serviceAccount(t *testing.T, ns, name string) hook.Clients {
	t.Helper()
	kube, _ := admin(t)
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctxFor(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := cp.Get(t).ServiceAccountConfig(ctxFor(t), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return clientsFor(t, cfg, nil)
}
