package rbac_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
)

// scene is one namespace (a) with every kind of grant, and a second (b)
// whose accounts get rights in a through their namespace group.
type scene struct {
	a, b       string
	accountsA  []string
	accountsB  []string
	agg        string // the aggregated ClusterRole
	aggChild   string
	crb        string
	alice, bob string
	auditors   string
}

func newScene(t *testing.T) *scene {
	ctx := ctxFor(t)
	kube := cp.Get(t).Clientset()
	o := objects{t: t, ctx: ctx, kube: kube}
	sc := &scene{a: cp.NewNamespace(t), b: cp.NewNamespace(t)}
	a, b := sc.a, sc.b
	sc.accountsA = []string{"default", "role-sa", "crole-sa", "crb-sa", "names-sa", "sub-sa", "wild-verbs", "wild-res", "wild-groups",
		"agg-sa", "unbound", "podded", "user-named", "no-ns", "ghost-sa", "own"}
	sc.accountsB = []string{"default", "b-one"}
	for _, n := range sc.accountsA[1:] {
		o.sa(a, n)
	}
	o.sa(b, "b-one")
	sc.alice, sc.bob, sc.auditors = a+"-alice", a+"-bob", a+"-auditors"

	// A Role through a RoleBinding.
	o.role(a, "cm-delete", rule(l(""), l("configmaps"), l("delete", "get")))
	o.roleBinding(a, "role-sa", "Role", "cm-delete", sa(a, "role-sa"))
	// A ClusterRole through a RoleBinding: only in a.
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: a + "-cm-reader"}, Rules: []rbacv1.PolicyRule{rule(l(""), l("configmaps"), l("get", "list"))}})
	o.roleBinding(a, "crole-sa", "ClusterRole", a+"-cm-reader", sa(a, "crole-sa"))
	// A ClusterRoleBinding: everywhere, to an account, a user and a group.
	sc.crb = a + "-crb"
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: a + "-deployer"}, Rules: []rbacv1.PolicyRule{
		rule(l("apps"), l("deployments"), l("create")), rule(l(""), l("configmaps"), l("delete"))}})
	o.clusterRoleBinding(sc.crb, a+"-deployer", sa(a, "crb-sa"), user(sc.alice), group(sc.auditors))
	// resourceNames.
	o.role(a, "named", rule(l(""), l("configmaps"), l("delete"), "keep-a", "keep-b"))
	o.roleBinding(a, "names-sa", "Role", "named", sa(a, "names-sa"))
	// Subresources: */status and pods/log.
	o.role(a, "sub", rule(l(""), l("*/status"), l("update")), rule(l(""), l("pods/log"), l("get")))
	o.roleBinding(a, "sub-sa", "Role", "sub", sa(a, "sub-sa"))
	// Wildcard verbs, resources and groups.
	o.role(a, "wild-verbs", rule(l(""), l("configmaps"), l("*")))
	o.roleBinding(a, "wild-verbs", "Role", "wild-verbs", sa(a, "wild-verbs"))
	o.role(a, "wild-res", rule(l(""), l("*"), l("list")))
	o.roleBinding(a, "wild-res", "Role", "wild-res", sa(a, "wild-res"))
	o.role(a, "wild-groups", rule(l("*"), l("deployments"), l("create")))
	o.roleBinding(a, "wild-groups", "Role", "wild-groups", sa(a, "wild-groups"))
	// Each implicit group, bound in a.
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: a + "-events"}, Rules: []rbacv1.PolicyRule{rule(l(""), l("events"), l("list"))}})
	o.roleBinding(a, "authenticated", "ClusterRole", a+"-events", group("system:authenticated"))
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: a + "-secrets"}, Rules: []rbacv1.PolicyRule{rule(l(""), l("secrets"), l("get"))}})
	o.roleBinding(a, "all-accounts", "ClusterRole", a+"-secrets", group("system:serviceaccounts"))
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: a + "-b-accounts"}, Rules: []rbacv1.PolicyRule{
		rule(l(""), l("pods"), l("list")), rule(l(""), l("configmaps"), l("delete"), "keep-b")}})
	o.roleBinding(a, "b-accounts", "ClusterRole", a+"-b-accounts", group("system:serviceaccounts:"+b))
	// A User subject named as an account is that account.
	o.roleBinding(a, "user-named", "Role", "cm-delete", user("system:serviceaccount:"+a+":user-named"))
	// A ServiceAccount subject without a namespace takes the RoleBinding's.
	o.roleBinding(a, "no-ns", "Role", "cm-delete", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "no-ns"})
	// An aggregated ClusterRole, filled in by the controller-manager.
	sc.agg, sc.aggChild = a+"-agg-parent", a+"-agg-child"
	child := rule(l(""), l("configmaps"), l("deletecollection"))
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: sc.aggChild, Labels: map[string]string{"sparkcm-test/agg": a}}, Rules: []rbacv1.PolicyRule{child}})
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: sc.agg}, AggregationRule: &rbacv1.AggregationRule{
		ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"sparkcm-test/agg": a}}}}})
	o.roleBinding(a, "agg", "ClusterRole", sc.agg, sa(a, "agg-sa"))
	waitAggregated(t, ctx, kube, sc.agg, child)
	// A binding to a Role that does not exist.
	o.roleBinding(a, "ghost", "Role", "does-not-exist", sa(a, "ghost-sa"))
	// Pods: one runs as an account, one is sparkcm-hook's own.
	o.pod(a, "worker", "podded", nil)
	o.pod(a, "sweep", "own", map[string]string{"app.kubernetes.io/name": "sparkcm-hook"})
	o.roleBinding(a, "own", "Role", "cm-delete", sa(a, "own"), sa(a, "podded"))
	return sc
}

func (sc *scene) subjects() []rbac.Subject {
	out := append(subjectsOf(sc.a)(sc.accountsA...), subjectsOf(sc.b)(sc.accountsB...)...)
	return append(out,
		rbac.Subject{Kind: rbacv1.UserKind, Name: sc.alice},
		rbac.Subject{Kind: rbacv1.UserKind, Name: sc.bob},
		rbac.Subject{Kind: rbacv1.GroupKind, Name: sc.auditors},
		rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:masters"},
		rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts"},
		rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts:" + sc.b},
		rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:authenticated"},
	)
}

var tried = []struct {
	req   rbac.Request
	names []string
}{
	{rbac.Request{Verb: "delete", Resource: "configmaps"}, []string{"keep-a", "keep-b", "other"}},
	{rbac.Request{Verb: "get", Resource: "configmaps"}, []string{"keep-a"}},
	{rbac.Request{Verb: "list", Resource: "configmaps"}, nil},
	{rbac.Request{Verb: "deletecollection", Resource: "configmaps"}, nil},
	{rbac.Request{Verb: "create", Group: "apps", Resource: "deployments"}, nil},
	{rbac.Request{Verb: "update", Group: "apps", Resource: "deployments", Subresource: "status"}, []string{"web"}},
	{rbac.Request{Verb: "update", Resource: "pods", Subresource: "status"}, nil},
	{rbac.Request{Verb: "get", Resource: "pods", Subresource: "log"}, []string{"worker"}},
	{rbac.Request{Verb: "get", Resource: "pods"}, []string{"worker"}},
	{rbac.Request{Verb: "list", Resource: "pods"}, nil},
	{rbac.Request{Verb: "list", Resource: "events"}, nil},
	{rbac.Request{Verb: "get", Resource: "secrets"}, []string{"s"}},
}

func TestWhoCanAgreesWithSubjectAccessReviewForEveryKindOfGrant(t *testing.T) {
	needControlPlane(t)
	ctx := ctxFor(t)
	sc := newScene(t)
	kube := cp.Get(t).Clientset()
	reviews := 0
	for _, tr := range tried {
		for _, ns := range []string{sc.a, sc.b} {
			req := tr.req
			req.Namespace = ns
			res := whoCan(t, ctx, rbac.WhoCanOptions{Request: req})
			before := reviews
			reviews += agreement(t, ctx, kube, res.Rows, sc.subjects(), req, tr.names)
			if t.Failed() {
				t.Fatalf("after %d reviews; who-can %s in %s:\n%s", reviews-before, req, ns, fmtRows(res.Rows))
			}
		}
	}
	t.Logf("%d SubjectAccessReviews agreed with who-can", reviews)
}

func TestWhoCanAgreesAcrossAllNamespaces(t *testing.T) {
	needControlPlane(t)
	ctx := ctxFor(t)
	sc := newScene(t)
	kube := cp.Get(t).Clientset()
	for _, tr := range tried {
		res := whoCan(t, ctx, rbac.WhoCanOptions{Request: tr.req, AllNamespaces: true})
		for _, ns := range []string{sc.a, sc.b, ""} {
			req := tr.req
			req.Namespace = ns
			agreement(t, ctx, kube, res.Rows, sc.subjects(), req, tr.names)
		}
		if t.Failed() {
			t.Fatalf("who-can %s -A:\n%s", tr.req, fmtRows(res.Rows))
		}
	}
}

func row(t *testing.T, rows []rbac.WhoCanRow, s rbac.Subject) rbac.WhoCanRow {
	t.Helper()
	for _, r := range rows {
		if r.Reach == rbac.ReachDirect && r.Subject == s {
			return r
		}
	}
	t.Fatalf("no row for %s in\n%s", s, fmtRows(rows))
	return rbac.WhoCanRow{}
}

func TestWhoCanShowsPathsFlagsAndConfirmations(t *testing.T) {
	needControlPlane(t)
	ctx := ctxFor(t)
	sc := newScene(t)
	a := sc.a
	acct := func(n string) rbac.Subject {
		return rbac.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: a, Name: n}
	}

	res := whoCan(t, ctx, rbac.WhoCanOptions{Request: rbac.Request{Verb: "delete", Resource: "configmaps", Namespace: a}, Confirm: true, Indirect: true})
	if res.Disagreements != 0 {
		t.Fatalf("%d disagreements:\n%s", res.Disagreements, fmtRows(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Agrees == nil || r.Review == nil {
			t.Fatalf("row not confirmed: %+v", r)
		}
	}
	if r := row(t, res.Rows, acct("names-sa")); r.Answer.Scope != rbac.OnlyNames || strings.Join(r.Answer.Names, ",") != "keep-a,keep-b" {
		t.Errorf("resourceNames: %s", r.Answer)
	}
	if r := row(t, res.Rows, acct("crb-sa")); !r.ClusterWide || r.Wildcard {
		t.Errorf("ClusterRoleBinding grant: %+v", r)
	}
	if r := row(t, res.Rows, acct("wild-verbs")); !r.Wildcard || r.ClusterWide {
		t.Errorf("wildcard grant: %+v", r)
	}
	if r := row(t, res.Rows, rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:masters"}); !r.BypassesRBAC || r.Answer.Scope != rbac.AllNames {
		t.Errorf("system:masters: %+v", r)
	}
	if r := row(t, res.Rows, rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts:" + sc.b}); r.Answer.String() != "only keep-b" {
		t.Errorf("namespace group: %+v", r)
	}
	// The account's Pod shares the grant; sparkcm-hook's own Pod does not.
	if r := row(t, res.Rows, acct("podded")); r.SharedPods != 1 || r.SharedSample[0] != a+"/worker" {
		t.Errorf("grant shared with a Pod: %+v", r)
	}
	if r := row(t, res.Rows, acct("own")); r.SharedPods != 0 {
		t.Errorf("sparkcm-hook's own Pod counted as sharing: %+v", r)
	}
	for _, n := range []string{"user-named", "no-ns"} {
		if r := row(t, res.Rows, acct(n)); r.Answer.Scope != rbac.AllNames {
			t.Errorf("%s: %s", n, r.Answer)
		}
	}
	for _, r := range res.Rows {
		if r.Reach == rbac.ReachDirect && (r.Subject == acct("unbound") || r.Subject == acct("ghost-sa")) {
			t.Errorf("%s has no grant but a row: %+v", r.Subject, r)
		}
	}
	// The indirect paths: whoever may create Pods in a can run them as
	// role-sa; escalate and bind lead there too.
	var creates, binds bool
	for _, r := range res.Rows {
		creates = creates || (r.Reach == rbac.ReachCreatePods && r.Namespace == a)
		binds = binds || r.Reach == rbac.ReachBind
	}
	if !creates || !binds {
		t.Errorf("indirect paths missing (creates pods %v, binds %v):\n%s", creates, binds, fmtRows(res.Rows))
	}

	// The aggregated ClusterRole: the path names the role the rule came from.
	agg := whoCan(t, ctx, rbac.WhoCanOptions{Request: rbac.Request{Verb: "deletecollection", Resource: "configmaps", Namespace: a}, Confirm: true})
	r := row(t, agg.Rows, acct("agg-sa"))
	if r.Answer.Scope != rbac.AllNames || len(r.Via) != 1 || !strings.HasSuffix(r.Via[0], "ClusterRole "+sc.agg+" <- aggregated from ClusterRole "+sc.aggChild) || !*r.Agrees {
		t.Errorf("aggregated: %+v", r)
	}

	// The binding to a missing Role: reported, and the API server's
	// evaluation error shown as "incomplete" for the account it names
	// (found by probing the accounts the bindings give nothing).
	sec := whoCan(t, ctx, rbac.WhoCanOptions{Request: rbac.Request{Verb: "get", Resource: "secrets", Namespace: a}, Confirm: true})
	if len(sec.MissingRoles) != 1 || !strings.Contains(sec.MissingRoles[0], "RoleBinding "+a+"/ghost") {
		t.Errorf("missing roles %v", sec.MissingRoles)
	}
	probed := whoCan(t, ctx, rbac.WhoCanOptions{Request: rbac.Request{Verb: "delete", Resource: "configmaps", Namespace: a}, Confirm: true, ProbeAccounts: true})
	if r := row(t, probed.Rows, acct("ghost-sa")); r.Answer.Scope != rbac.No || !strings.Contains(r.Disagreement, "incomplete") || !*r.Agrees {
		t.Errorf("ghost-sa: the evaluation error must show: %+v", r)
	}
	if r := row(t, sec.Rows, rbac.Subject{Kind: rbacv1.GroupKind, Name: "system:serviceaccounts"}); r.SharedPods != 1 {
		t.Errorf("a group grant is shared with every Pod of its accounts: %+v", r)
	}
}

// The identity the package gives an account must be the one its token
// carries: the API server's SelfSubjectReview for a real token.
func TestServiceAccountTokensCarryTheImplicitGroups(t *testing.T) {
	needControlPlane(t)
	ctx := ctxFor(t)
	ns := cp.NewNamespace(t)
	cfg, err := cp.Get(t).ServiceAccountConfig(ctx, ns, "probe")
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ssr, err := kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := rbac.Identity{User: ssr.Status.UserInfo.Username, Groups: ssr.Status.UserInfo.Groups}
	s := rbac.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "probe"}
	for name, id := range map[string]rbac.Identity{"the package": s.Identity(), "the tests' oracle": apiIdentity(s)} {
		if id.User != got.User || !sameGroups(id.Groups, got.Groups) {
			t.Errorf("%s says %+v, the API server %+v", name, id, got)
		}
	}
}

func sameGroups(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// When the API server answers otherwise than the roles and bindings (here:
// a binding deleted after the graph was read and before the answers were
// checked, through the test seam; in a cluster, also another authorizer),
// who-can still returns every row, marks the one that disagrees, and fails
// with a DisagreementError, which the command line exits 5 with.
func TestWhoCanFailsWhenTheAPIServerDisagreesWithTheBindings(t *testing.T) {
	needControlPlane(t)
	ctx := ctxFor(t)
	sc := newScene(t)
	a := sc.a
	roleSA := rbac.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: a, Name: "role-sa"}
	req := rbac.Request{Verb: "delete", Resource: "configmaps", Namespace: a}
	c := adminClients(t)
	o := rbac.WhoCanOptions{Request: req, Confirm: true}
	rbac.SetBeforeConfirm(&o, func() {
		if err := cp.Get(t).Clientset().RbacV1().RoleBindings(a).Delete(ctx, "role-sa", metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete the binding: %v", err)
			return
		}
		// The authorizer's cache follows the delete; wait until it has.
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			rev, err := rbac.SubjectAccessReview(ctx, c.Kube, testLog(), hook.RetryPolicy{}, roleSA.Identity(), req)
			return err == nil && !rev.Allowed, nil
		})
		if err != nil {
			t.Errorf("the API server still allows %s after its binding was deleted: %v", roleSA, err)
		}
	})
	res, err := rbac.WhoCan(ctx, c, testLog(), o)
	var de *rbac.DisagreementError
	if !errors.As(err, &de) || de.Disagreements != 1 {
		t.Fatalf("err %v, want a DisagreementError for 1 row", err)
	}
	if got := exitcode.Of(err); got != 5 {
		t.Errorf("exit code %d, want 5", got)
	}
	if res == nil || res.Disagreements != 1 {
		t.Fatalf("result %+v, want it returned with 1 disagreement", res)
	}
	r := row(t, res.Rows, roleSA)
	if r.Agrees == nil || *r.Agrees || !strings.Contains(r.Disagreement, "the bindings allow it but the API server does not") {
		t.Errorf("row for %s: agrees %v, disagreement %q", roleSA, r.Agrees, r.Disagreement)
	}
	for _, other := range res.Rows {
		if other.Subject != roleSA && (other.Agrees == nil || !*other.Agrees) {
			t.Errorf("%s: agrees %v, want only %s to disagree", other.Subject, other.Agrees, roleSA)
		}
	}
}
