package rbac_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
)

// propertySeeds are the seeds the property test runs; SPARKCM_RBAC_SEED
// runs one other (a failure prints its seed).
func propertySeeds(t *testing.T) []uint64 {
	if v := os.Getenv("SPARKCM_RBAC_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SPARKCM_RBAC_SEED=%q: %v", v, err)
		}
		return []uint64{s}
	}
	return []uint64{1, 2, 3}
}

// TestWhoCanAgreesWithSubjectAccessReviewOnRandomGraphs generates random
// Roles, ClusterRoles (one of them aggregated) and bindings to accounts,
// users, groups and the implicit groups, then compares who-can (-n and -A)
// with the API server for random requests.
func TestWhoCanAgreesWithSubjectAccessReviewOnRandomGraphs(t *testing.T) {
	needControlPlane(t)
	for _, seed := range propertySeeds(t) {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			randomGraph(t, seed)
		})
	}
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func some[T comparable](r *rand.Rand, xs []T, most int) []T {
	n := 1 + r.IntN(most)
	var out []T
	for range n {
		x := pick(r, xs)
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

var (
	propVerbs     = []string{"get", "list", "delete", "create", "update", "*"}
	propGroups    = []string{"", "apps", "*"}
	propResources = []string{"configmaps", "pods", "pods/log", "pods/status", "*/status", "deployments", "deployments/status", "secrets", "*"}
	propNames     = []string{"n1", "n2"}
	propRequests  = []rbac.Request{
		{Resource: "configmaps"}, {Resource: "pods"}, {Resource: "pods", Subresource: "log"}, {Resource: "pods", Subresource: "status"},
		{Group: "apps", Resource: "deployments"}, {Group: "apps", Resource: "deployments", Subresource: "status"}, {Resource: "secrets"},
	}
)

func randomRules(r *rand.Rand) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for range 1 + r.IntN(3) {
		ru := rbacv1.PolicyRule{APIGroups: some(r, propGroups, 2), Resources: some(r, propResources, 2), Verbs: some(r, propVerbs, 3)}
		if r.IntN(3) == 0 {
			ru.ResourceNames = some(r, propNames, 2)
		}
		rules = append(rules, ru)
	}
	return rules
}

func randomGraph(t *testing.T, seed uint64) {
	ctx := ctxFor(t)
	kube := cp.Get(t).Clientset()
	o := objects{t: t, ctx: ctx, kube: kube}
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	a, b := cp.NewNamespace(t), cp.NewNamespace(t)
	p := a // prefix of cluster-scoped names
	accounts := map[string][]string{a: {"default", "sa0", "sa1", "sa2", "sa3"}, b: {"default", "sb0", "sb1"}}
	for ns, names := range accounts {
		for _, n := range names[1:] {
			o.sa(ns, n)
		}
	}
	users := []string{p + "-u0", p + "-u1"}
	groups := []string{p + "-g0"}
	implicit := []string{"system:serviceaccounts", "system:serviceaccounts:" + a, "system:serviceaccounts:" + b, "system:authenticated"}

	roles := map[string][]string{}
	for _, ns := range []string{a, b} {
		for i := range 3 + r.IntN(3) {
			name := fmt.Sprintf("r%d", i)
			o.role(ns, name, randomRules(r)...)
			roles[ns] = append(roles[ns], name)
		}
	}
	var clusterRoles []string
	aggLabel := map[string]string{"sparkcm-test/prop": p}
	for i := range 4 {
		cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-cr%d", p, i)}, Rules: randomRules(r)}
		if i < 2 {
			cr.Labels = aggLabel // aggregated into cr-agg
		}
		o.clusterRole(cr)
		clusterRoles = append(clusterRoles, cr.Name)
	}
	agg := p + "-cr-agg"
	o.clusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: agg},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: aggLabel}}}})
	clusterRoles = append(clusterRoles, agg)

	// Subjects: accounts of either namespace (sometimes without a namespace
	// in a RoleBinding), users, groups, and the implicit groups (only in
	// RoleBindings: a ClusterRoleBinding to them would reach into every
	// other test's namespaces).
	subject := func(bindingNS string) rbacv1.Subject {
		switch k := r.IntN(10); {
		case k < 4:
			ns := pick(r, []string{a, b})
			s := sa(ns, pick(r, accounts[ns]))
			if bindingNS == ns && r.IntN(3) == 0 {
				s.Namespace = ""
			}
			return s
		case k < 6:
			return user(pick(r, users))
		case k < 7:
			return group(pick(r, groups))
		case bindingNS != "":
			return group(pick(r, implicit))
		default:
			return sa(a, pick(r, accounts[a]))
		}
	}
	for _, ns := range []string{a, b} {
		for i := range 4 + r.IntN(4) {
			var subjects []rbacv1.Subject
			for range 1 + r.IntN(3) {
				subjects = append(subjects, subject(ns))
			}
			if r.IntN(2) == 0 {
				o.roleBinding(ns, fmt.Sprintf("rb%d", i), "Role", pick(r, roles[ns]), subjects...)
			} else {
				o.roleBinding(ns, fmt.Sprintf("rb%d", i), "ClusterRole", pick(r, clusterRoles), subjects...)
			}
		}
	}
	for i := range 3 {
		var subjects []rbacv1.Subject
		for range 1 + r.IntN(2) {
			subjects = append(subjects, subject(""))
		}
		o.clusterRoleBinding(fmt.Sprintf("%s-crb%d", p, i), pick(r, clusterRoles), subjects...)
	}
	// Wait for the aggregation controller to copy every child rule.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cr, err := kube.RbacV1().ClusterRoles().Get(ctx, agg, metav1.GetOptions{})
		return err == nil && len(cr.Rules) > 0, err
	}); err != nil {
		t.Fatalf("aggregated ClusterRole never filled in: %v", err)
	}

	var subjects []rbac.Subject
	for _, ns := range []string{a, b} {
		subjects = append(subjects, subjectsOf(ns)(accounts[ns]...)...)
	}
	for _, u := range append(users, p+"-nobody") {
		subjects = append(subjects, rbac.Subject{Kind: rbacv1.UserKind, Name: u})
	}
	for _, g := range append(append(groups, implicit...), "system:masters") {
		subjects = append(subjects, rbac.Subject{Kind: rbacv1.GroupKind, Name: g})
	}

	reviews := 0
	for range 8 {
		req := pick(r, propRequests)
		req.Verb = pick(r, propVerbs[:5])
		all := whoCan(t, ctx, rbac.WhoCanOptions{Request: req, AllNamespaces: true})
		for _, ns := range []string{a, b} {
			nreq := req
			nreq.Namespace = ns
			res := whoCan(t, ctx, rbac.WhoCanOptions{Request: nreq})
			reviews += agreement(t, ctx, kube, res.Rows, subjects, nreq, []string{"n1", "n3"})
			reviews += agreement(t, ctx, kube, all.Rows, subjects, nreq, []string{"n1"})
			if t.Failed() {
				t.Fatalf("seed %d (rerun with SPARKCM_RBAC_SEED=%d): who-can %s in %s:\n%s\n-A:\n%s", seed, seed, nreq, ns, fmtRows(res.Rows), fmtRows(all.Rows))
			}
		}
		creq := req
		reviews += agreement(t, ctx, kube, all.Rows, subjects, creq, []string{"n2"})
		if t.Failed() {
			t.Fatalf("seed %d: who-can %s -A, cluster-wide:\n%s", seed, req, fmtRows(all.Rows))
		}
	}
	t.Logf("seed %d: %d SubjectAccessReviews agreed with who-can", seed, reviews)
}
