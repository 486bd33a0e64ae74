package helm_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// The control plane is started by the first test that needs it and shared by the rest, so the
// render-only tests never wait for it.
var cp = kubecluster.NewShared(kubecluster.Options{})

func TestMain(m *testing.M) { os.Exit(cp.RunMain(m)) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// apply creates the rendered objects the way `kubectl create -f` would: each through the
// resource discovery names for its kind, with strict field validation, so the API server's own
// validation (CronJob schedule, podFailurePolicy, RBAC references) judges the chart.
func apply(ctx context.Context, t *testing.T, cfg *rest.Config, objs []*unstructured.Unstructured) {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if o.GetNamespace() == "" {
				t.Fatalf("%s %s has no namespace: helm template output must name it", gvk.Kind, o.GetName())
			}
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
			t.Fatalf("create %s %s/%s: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
}

// serviceAccountClient authenticates with a token of the chart's own ServiceAccount.
func serviceAccountClient(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, objs []*unstructured.Unstructured) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	sa := one(t, objs, "ServiceAccount")
	cfg, err := c.ServiceAccountConfig(ctx, sa.GetNamespace(), sa.GetName())
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, kube
}

// granted asks the API server for everything the caller may do in namespace ns
// (SelfSubjectRulesReview), including what cluster-wide bindings allow there.
func granted(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns string) []permission {
	t.Helper()
	r, err := kube.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectRulesReview in %s: %v", ns, err)
	}
	if r.Status.Incomplete {
		t.Fatalf("SelfSubjectRulesReview in %s is incomplete: %s", ns, r.Status.EvaluationError)
	}
	var rules []rbacv1.PolicyRule
	for _, rr := range r.Status.ResourceRules {
		if len(rr.ResourceNames) > 0 {
			t.Errorf("unexpected rule limited to names: %+v", rr)
		}
		rules = append(rules, rbacv1.PolicyRule{APIGroups: rr.APIGroups, Resources: rr.Resources, Verbs: rr.Verbs})
	}
	return expand(rules)
}

// grantedByChart is what the chart's ServiceAccount may do in ns beyond what a ServiceAccount
// without any binding of its own (the namespace's "default") may do there: the default
// ClusterRoleBindings give every authenticated user some access (self reviews, reading
// ClusterTrustBundles, ...), which is not the chart's doing.
func grantedByChart(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, kube kubernetes.Interface, ns string) []permission {
	t.Helper()
	baseCfg, err := c.ServiceAccountConfig(ctx, ns, "default")
	if err != nil {
		t.Fatal(err)
	}
	base := setOf(granted(ctx, t, kubernetes.NewForConfigOrDie(baseCfg), ns))
	extra := map[permission]bool{}
	for _, p := range granted(ctx, t, kube, ns) {
		if !base[p] {
			extra[p] = true
		}
	}
	return sortedPermissions(extra)
}

// access is one question to the authorizer: may the caller do verb on resource (named name) in
// namespace (empty: across all namespaces, or a cluster-scoped resource)?
type access struct {
	verb, group, resource, namespace, name string
}

func (a access) String() string {
	s := a.verb + " " + a.resource
	if a.group != "" {
		s += "." + a.group
	}
	if a.name != "" {
		s += "/" + a.name
	}
	if a.namespace == "" {
		return s + " (all namespaces)"
	}
	return s + " in " + a.namespace
}

// allowed asks the API server (SelfSubjectAccessReview) whether the caller may do a.
func allowed(ctx context.Context, t *testing.T, kube kubernetes.Interface, a access) bool {
	t.Helper()
	r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Namespace: a.namespace, Name: a.name,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectAccessReview %s: %v", a, err)
	}
	return r.Status.Allowed
}

// checkAccess asserts each question's answer.
func checkAccess(ctx context.Context, t *testing.T, kube kubernetes.Interface, want bool, questions ...access) {
	t.Helper()
	for _, a := range questions {
		if got := allowed(ctx, t, kube, a); got != want {
			t.Errorf("%s: allowed=%v, want %v", a, got, want)
		}
	}
}

// documentedIn turns the documented permissions into questions in one namespace.
func documentedIn(perms []permission, ns string) []access {
	var out []access
	for _, p := range perms {
		out = append(out, access{verb: p.verb, group: p.group, resource: p.resource, namespace: ns})
	}
	return out
}

// forbiddenIn is what the chart must never allow in ns: writes the tool has no use for, and
// everything about Secrets. (The chart allows patching maps: sweep stamps a client-mode
// application's executor map sparkcm-hook/last-active.)
func forbiddenIn(ns string) []access {
	var out []access
	for _, v := range []string{"create", "update", "deletecollection", "watch"} {
		out = append(out, access{verb: v, resource: "configmaps", namespace: ns})
	}
	for _, v := range []string{"create", "update", "patch", "delete", "deletecollection"} {
		out = append(out, access{verb: v, resource: "pods", namespace: ns})
		out = append(out, access{verb: v, group: "sparkoperator.k8s.io", resource: "sparkapplications", namespace: ns})
	}
	for _, v := range []string{"get", "list", "watch", "create", "delete"} {
		out = append(out, access{verb: v, resource: "secrets", namespace: ns})
	}
	return append(out,
		access{verb: "create", resource: "pods", name: "x", namespace: ns},
		access{verb: "get", resource: "pods/log", namespace: ns},
		access{verb: "create", resource: "pods/exec", namespace: ns},
		access{verb: "create", resource: "serviceaccounts/token", namespace: ns},
		access{verb: "update", resource: "events", namespace: ns},
		access{verb: "create", group: "rbac.authorization.k8s.io", resource: "rolebindings", namespace: ns},
		access{verb: "create", group: "batch", resource: "jobs", namespace: ns},
	)
}

func TestChartServiceAccountHasExactlyTheDocumentedAccessInItsNamespace(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	ns, other := c.NewNamespace(t), c.NewNamespace(t)
	objs := render(t, "sparkcm-hook", ns)
	apply(ctx, t, c.AdminConfig(), objs)
	_, kube := serviceAccountClient(ctx, t, c, objs)
	documented, _ := documentedPermissions(t)

	if got := grantedByChart(ctx, t, c, kube, ns); !reflect.DeepEqual(got, documented) {
		t.Errorf("the ServiceAccount's token may %v in its namespace,\nthe README documents %v", got, documented)
	}
	if got := grantedByChart(ctx, t, c, kube, other); len(got) != 0 {
		t.Errorf("the ServiceAccount's token may %v in another namespace, want nothing", got)
	}
	checkAccess(ctx, t, kube, true, documentedIn(documented, ns)...)
	checkAccess(ctx, t, kube, false, forbiddenIn(ns)...)
	checkAccess(ctx, t, kube, false, documentedIn(documented, other)...)
	checkAccess(ctx, t, kube, false, documentedIn(documented, "")...)
	checkAccess(ctx, t, kube, false,
		access{verb: "get", resource: "namespaces", name: ns, namespace: ns},
		access{verb: "list", resource: "namespaces"},
	)
}

func TestChartClusterWideWithNamespacesGrantsOnlyTheListedNamespaces(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	release, a, b, unlisted := c.NewNamespace(t), c.NewNamespace(t), c.NewNamespace(t), c.NewNamespace(t)
	objs := render(t, "sparkcm-hook", release, "clusterWide.enabled=true", "clusterWide.namespaces={"+a+","+b+"}")
	apply(ctx, t, c.AdminConfig(), objs)
	_, kube := serviceAccountClient(ctx, t, c, objs)
	documented, clusterOnly := documentedPermissions(t)

	for _, ns := range []string{a, b} {
		// A RoleBinding makes even `get namespaces` namespaced: it matches only GET
		// /api/v1/namespaces/<ns>, whose request namespace is <ns> itself.
		want := sortedPermissions(setOf(append(append([]permission{}, documented...), clusterOnly...)))
		if got := grantedByChart(ctx, t, c, kube, ns); !reflect.DeepEqual(got, want) {
			t.Errorf("in listed namespace %s the token may %v,\nwant %v", ns, got, want)
		}
		checkAccess(ctx, t, kube, true, documentedIn(documented, ns)...)
		checkAccess(ctx, t, kube, true, access{verb: "get", resource: "namespaces", name: ns, namespace: ns})
		checkAccess(ctx, t, kube, false, forbiddenIn(ns)...)
	}
	for _, ns := range []string{release, unlisted} {
		if got := grantedByChart(ctx, t, c, kube, ns); len(got) != 0 {
			t.Errorf("in unlisted namespace %s the token may %v, want nothing", ns, got)
		}
		checkAccess(ctx, t, kube, false, documentedIn(documented, ns)...)
		checkAccess(ctx, t, kube, false, access{verb: "get", resource: "namespaces", name: ns, namespace: ns})
	}
	checkAccess(ctx, t, kube, false, documentedIn(documented, "")...)
	checkAccess(ctx, t, kube, false,
		access{verb: "get", resource: "namespaces", name: unlisted},
		access{verb: "list", resource: "namespaces"},
	)
}

func TestChartClusterWideWithoutNamespacesGrantsEveryNamespace(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	release, elsewhere := c.NewNamespace(t), c.NewNamespace(t)
	objs := render(t, "sparkcm-hook", release, "clusterWide.enabled=true")
	apply(ctx, t, c.AdminConfig(), objs)
	_, kube := serviceAccountClient(ctx, t, c, objs)
	documented, _ := documentedPermissions(t)

	checkAccess(ctx, t, kube, true, documentedIn(documented, "")...)
	checkAccess(ctx, t, kube, true, documentedIn(documented, elsewhere)...)
	checkAccess(ctx, t, kube, true, access{verb: "get", resource: "namespaces", name: elsewhere})
	checkAccess(ctx, t, kube, false, forbiddenIn(elsewhere)...)
	checkAccess(ctx, t, kube, false, forbiddenIn("")...)
	checkAccess(ctx, t, kube, false,
		access{verb: "list", resource: "namespaces"},
		access{verb: "delete", resource: "namespaces", name: elsewhere},
		access{verb: "get", resource: "nodes"},
	)
}

// In controller mode the API server lets the chart's ServiceAccount touch
// its Lease only in the release namespace, cluster-wide or not, and watch
// maps nowhere: the controller caches none.
func TestChartControllerModeGrantsItsLeaseOnlyInTheReleaseNamespace(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	leases := func(ns string) []access {
		var out []access
		for _, v := range []string{"get", "create", "update"} {
			out = append(out, access{verb: v, group: leaseGroup, resource: "leases", namespace: ns})
		}
		return out
	}
	watchMaps := func(ns string) access { return access{verb: "watch", resource: "configmaps", namespace: ns} }

	release, other := c.NewNamespace(t), c.NewNamespace(t)
	objs := render(t, "sparkcm-hook", release, "mode=controller")
	apply(ctx, t, c.AdminConfig(), objs)
	_, kube := serviceAccountClient(ctx, t, c, objs)
	checkAccess(ctx, t, kube, true, leases(release)...)
	checkAccess(ctx, t, kube, false, append(leases(other), watchMaps(release), watchMaps(other))...)
	checkAccess(ctx, t, kube, false, leases("")...)
	checkAccess(ctx, t, kube, false, access{verb: "delete", group: leaseGroup, resource: "leases", namespace: release})

	release, watched, unlisted := c.NewNamespace(t), c.NewNamespace(t), c.NewNamespace(t)
	objs = render(t, "sparkcm-hook", release, "mode=controller", "clusterWide.enabled=true", "clusterWide.namespaces={"+watched+"}")
	apply(ctx, t, c.AdminConfig(), objs)
	_, kube = serviceAccountClient(ctx, t, c, objs)
	checkAccess(ctx, t, kube, true, leases(release)...)
	checkAccess(ctx, t, kube, false, append(append(leases(watched), leases(unlisted)...), watchMaps(watched), watchMaps(unlisted))...)
}

// `helm test` in controller mode runs `rbac preflight --for controller` as
// the chart's ServiceAccount: the chart's two Roles grant every verb it asks
// for, and without the Lease's RoleBinding it exits 3.
func TestChartControllerModeHelmTestPassesAndFailsWithoutTheLeaseBinding(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	ns := c.NewNamespace(t)
	objs := render(t, "sparkcm-hook", ns, "mode=controller")
	apply(ctx, t, c.AdminConfig(), objs)
	tests := renderTests(t, "sparkcm-hook", ns, "mode=controller")
	if len(tests) != 1 {
		t.Fatalf("%d helm test objects, want 1", len(tests))
	}
	preflight := typed[batchv1.Job](t, tests[0]).Spec.Template.Spec.Containers[0]
	saCfg, _ := serviceAccountClient(ctx, t, c, objs)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kubeconfig, saCfg, ""); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runLikePod(t, ns, preflight, kubeconfig); code != 0 {
		t.Fatalf("helm test's preflight exit %d, want 0", code)
	}
	leaseBinding := ""
	for _, rb := range find(objs, "RoleBinding") {
		if strings.HasSuffix(rb.GetName(), "-lease") {
			leaseBinding = rb.GetName()
		}
	}
	if err := c.Clientset().RbacV1().RoleBindings(ns).Delete(ctx, leaseBinding, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the Lease RoleBinding %q: %v", leaseBinding, err)
	}
	_, kube := serviceAccountClient(ctx, t, c, objs)
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return !allowed(ctx, t, kube, access{verb: "update", group: leaseGroup, resource: "leases", namespace: ns}), nil
	}); err != nil {
		t.Fatal("the Lease is still allowed after its RoleBinding was deleted")
	}
	code, stdout, _ := runLikePod(t, ns, preflight, kubeconfig)
	if code != 3 || !strings.Contains(stdout, "leases") {
		t.Fatalf("helm test's preflight without the Lease binding: exit %d, want 3 and the Lease Role on stdout:\n%s", code, stdout)
	}
}
