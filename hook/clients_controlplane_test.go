package hook_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// discoveryPath is a discovery document or /readyz; every other request of
// the typed clients names a resource.
var discoveryPath = regexp.MustCompile(`^(/api|/apis|/readyz|/api/v1|/apis/[^/]+/[^/]+)$`)

// The tool's typed clients (package kube) replace client-go's clientset:
// every call the tool makes must work against a real API server as it did
// with the clientset (errors typed, watch events decoded, protobuf as
// client-go's generated clients prefer it), every request must carry the
// user agent and pass the server clock and the throttle, and discovery must
// find what client-go's discovery finds.
func TestToolClientsCallTheAPIServerAsTheClientsetDid(t *testing.T) {
	skipShort(t)
	c := cp.Get(t)
	ns := cp.NewNamespace(t)
	ctx := ctxFor(t)
	admin := kubeFor(t, c.AdminConfig())

	type request struct{ method, path, agent, accept string }
	var (
		mu       sync.Mutex
		requests []request
		failed   atomic.Bool
	)
	cfg := rest.CopyConfig(c.AdminConfig())
	rest.AddUserAgent(cfg, "sparkcm-hook/test")
	cl := clientsFor(t, cfg, func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			requests = append(requests, request{r.Method, r.URL.Path, r.Header.Get("User-Agent"), r.Header.Get("Accept")})
			mu.Unlock()
			// One 503 that client-go retries at once: the throttle,
			// outside, must count it.
			if strings.HasSuffix(r.URL.Path, "/serviceaccounts") && failed.CompareAndSwap(false, true) {
				return &http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"0"}},
					Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
			}
			return rt.RoundTrip(r)
		})
	})
	kc := cl.Kube
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	pods := kc.CoreV1().Pods(ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	must("watch pods", err)
	defer w.Stop()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "watched"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/none"}}}}
	_, err = admin.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	must("create pod", err)
	select {
	case ev := <-w.ResultChan():
		got, ok := ev.Object.(*corev1.Pod)
		if ev.Type != watch.Added || !ok || got.Name != "watched" {
			t.Fatalf("watch: want ADDED Pod watched, got %s %T %+v", ev.Type, ev.Object, ev.Object)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch: no event for the new Pod")
	}
	got, err := pods.Get(ctx, "watched", metav1.GetOptions{})
	must("get pod", err)
	if got.Spec.Containers[0].Image != "registry.invalid/none" {
		t.Errorf("get pod: decoded %+v", got.Spec)
	}
	if _, err := pods.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get missing pod: want NotFound, got %v", err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=watched"})
	must("list pods", err)
	if len(list.Items) != 1 || list.ResourceVersion == "" {
		t.Errorf("list pods: %d items, resourceVersion %q", len(list.Items), list.ResourceVersion)
	}
	ev, err := kc.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "e-"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "watched"}, Reason: "Test", Type: corev1.EventTypeNormal}, metav1.CreateOptions{})
	must("create event", err)
	if ev.UID == "" {
		t.Error("create event: no UID in the answer")
	}
	n, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	must("get namespace", err)
	if n.Name != ns {
		t.Errorf("get namespace: %q", n.Name)
	}
	_, err = kc.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
	must("list serviceaccounts (after one 503)", err)
	rb := kc.RbacV1()
	_, err = rb.Roles(ns).List(ctx, metav1.ListOptions{})
	must("list roles", err)
	_, err = rb.RoleBindings(ns).List(ctx, metav1.ListOptions{})
	must("list rolebindings", err)
	crs, err := rb.ClusterRoles().List(ctx, metav1.ListOptions{})
	must("list clusterroles", err)
	crbs, err := rb.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	must("list clusterrolebindings", err)
	if len(crs.Items) == 0 || len(crbs.Items) == 0 {
		t.Errorf("the bootstrap ClusterRoles (%d) and ClusterRoleBindings (%d) are missing", len(crs.Items), len(crbs.Items))
	}
	attrs := &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "delete", Resource: "configmaps"}
	sar, err := kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "someone", Groups: []string{"system:masters"}, ResourceAttributes: attrs}}, metav1.CreateOptions{})
	must("create subjectaccessreview", err)
	ssar, err := kc.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: attrs}}, metav1.CreateOptions{})
	must("create selfsubjectaccessreview", err)
	if !sar.Status.Allowed || !ssar.Status.Allowed {
		t.Errorf("access reviews: system:masters allowed=%v, the admin allowed=%v", sar.Status.Allowed, ssar.Status.Allowed)
	}
	ssr, err := kc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	must("create selfsubjectreview", err)
	if ssr.Status.UserInfo.Username == "" {
		t.Error("selfsubjectreview: no user name")
	}
	var code int
	kc.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
	if code != http.StatusOK {
		t.Errorf("/readyz: %d", code)
	}

	_, lists, err := kc.Discovery().ServerGroupsAndResources()
	must("discovery", err)
	dc, err := discovery.NewDiscoveryClientForConfig(c.AdminConfig())
	must("client-go discovery client", err)
	_, want, err := discovery.ServerGroupsAndResources(dc)
	must("client-go discovery", err)
	if got, want := resourceLines(lists), resourceLines(want); !slices.Equal(got, want) {
		t.Errorf("discovery differs from client-go's:\nmissing: %v\nextra: %v", minus(want, got), minus(got, want))
	}

	if !cl.Clock.Known() {
		t.Error("the server clock learnt nothing from the typed clients' answers")
	}
	if got := cl.Throttle.Counts().Retried; got != 1 {
		t.Errorf("the throttle counted %d retried answers, want the one 503", got)
	}
	mu.Lock()
	defer mu.Unlock()
	typed := 0
	for _, r := range requests {
		if !strings.Contains(r.agent, "sparkcm-hook/test") {
			t.Errorf("%s %s: user agent %q", r.method, r.path, r.agent)
		}
		if discoveryPath.MatchString(r.path) {
			continue
		}
		typed++
		if !strings.HasPrefix(r.accept, "application/vnd.kubernetes.protobuf") {
			t.Errorf("%s %s: Accept %q, want protobuf first as client-go's generated clients ask", r.method, r.path, r.accept)
		}
	}
	if typed < 15 {
		t.Errorf("saw %d typed requests; the test sent at least 15", typed)
	}
}

// minus is what a holds and b does not.
func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// resourceLines is every resource (subresources aside) as Resolve reads
// it: group version, names and scope, sorted.
func resourceLines(lists []*metav1.APIResourceList) []string {
	var out []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			short := slices.Clone(r.ShortNames)
			slices.Sort(short)
			out = append(out, fmt.Sprintf("%s %s singular=%s short=%v namespaced=%v", l.GroupVersion, r.Name, r.SingularName, short, r.Namespaced))
		}
	}
	slices.Sort(out)
	return out
}
