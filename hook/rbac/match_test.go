package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rule(groups, resources, verbs []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
}

func s(v ...string) []string { return v }

// The cases follow the RBAC documentation's rules for verbs, groups,
// resources, subresources and resourceNames.
func TestRuleAllowsFollowsThePublishedRules(t *testing.T) {
	del := Request{Verb: "delete", Resource: "configmaps", Name: "a", Namespace: "ns"}
	cases := []struct {
		name string
		rule rbacv1.PolicyRule
		req  Request
		want bool
	}{
		{"exact match", rule(s(""), s("configmaps"), s("delete")), del, true},
		{"other verb", rule(s(""), s("configmaps"), s("get")), del, false},
		{"verb wildcard", rule(s(""), s("configmaps"), s("*")), del, true},
		{"other group", rule(s("apps"), s("configmaps"), s("delete")), del, false},
		{"group wildcard", rule(s("*"), s("configmaps"), s("delete")), del, true},
		{"resource wildcard", rule(s(""), s("*"), s("delete")), del, true},
		{"resource wildcard covers subresources", rule(s(""), s("*"), s("get")), Request{Verb: "get", Resource: "pods", Subresource: "log"}, true},
		{"plain resource does not cover its subresource", rule(s(""), s("pods"), s("get")), Request{Verb: "get", Resource: "pods", Subresource: "log"}, false},
		{"resource/subresource", rule(s(""), s("pods/log"), s("get")), Request{Verb: "get", Resource: "pods", Subresource: "log"}, true},
		{"subresource rule does not cover the resource", rule(s(""), s("pods/log"), s("get")), Request{Verb: "get", Resource: "pods"}, false},
		{"*/subresource matches any resource's", rule(s(""), s("*/status"), s("update")), Request{Verb: "update", Resource: "deployments", Subresource: "status"}, true},
		{"*/subresource is not the resource", rule(s(""), s("*/status"), s("update")), Request{Verb: "update", Resource: "deployments"}, false},
		{"*/subresource matches only that subresource", rule(s(""), s("*/status"), s("update")), Request{Verb: "update", Resource: "pods", Subresource: "statusx"}, false},
		{"resource/* is no wildcard", rule(s(""), s("pods/*"), s("get")), Request{Verb: "get", Resource: "pods", Subresource: "log"}, false},
		{"resourceNames lists the name", rule(s(""), s("configmaps"), s("delete"), "a", "b"), del, true},
		{"resourceNames lacks the name", rule(s(""), s("configmaps"), s("delete"), "b"), del, false},
		{"resourceNames never allow a request without a name", rule(s(""), s("configmaps"), s("list"), "a"), Request{Verb: "list", Resource: "configmaps"}, false},
		{"non-resource rule never allows a resource", rbacv1.PolicyRule{Verbs: s("get"), NonResourceURLs: s("*")}, Request{Verb: "get", Resource: "configmaps"}, false},
		{"case matters", rule(s(""), s("ConfigMaps"), s("delete")), del, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ruleAllows(c.rule, c.req); got != c.want {
				t.Fatalf("ruleAllows(%+v, %s) = %v, want %v", c.rule, c.req, got, c.want)
			}
		})
	}
}

func TestAnswerIsThreeValued(t *testing.T) {
	var a Answer
	if a.Scope != No || a.Allows("") || a.Allows("x") {
		t.Fatalf("empty answer %+v", a)
	}
	a.add(rule(s(""), s("configmaps"), s("delete"), "b", "a"))
	a.add(rule(s(""), s("configmaps"), s("delete"), "c", "a"))
	if a.Scope != OnlyNames || a.String() != "only a,b,c" || a.Allows("") || !a.Allows("c") || a.Allows("d") {
		t.Fatalf("names answer %+v", a)
	}
	a.add(rule(s(""), s("configmaps"), s("delete")))
	if a.Scope != AllNames || a.Names != nil || !a.Allows("") || !a.Allows("d") {
		t.Fatalf("a rule without names must widen to all names: %+v", a)
	}
	a.add(rule(s(""), s("configmaps"), s("delete"), "x"))
	if a.Scope != AllNames {
		t.Fatalf("a names rule narrowed an all-names answer: %+v", a)
	}
}

func TestSubjectsMatchAsTheAuthorizerMatchesThem(t *testing.T) {
	sa := ServiceAccountIdentity("jobs", "spark")
	cases := []struct {
		name    string
		subject rbacv1.Subject
		bindNS  string
		want    bool
	}{
		{"ServiceAccount with namespace", rbacv1.Subject{Kind: "ServiceAccount", Name: "spark", Namespace: "jobs"}, "", true},
		{"ServiceAccount without namespace takes the RoleBinding's", rbacv1.Subject{Kind: "ServiceAccount", Name: "spark"}, "jobs", true},
		{"ServiceAccount without namespace in a ClusterRoleBinding matches nothing", rbacv1.Subject{Kind: "ServiceAccount", Name: "spark"}, "", false},
		{"ServiceAccount of another namespace", rbacv1.Subject{Kind: "ServiceAccount", Name: "spark", Namespace: "other"}, "jobs", false},
		{"User named as the account's user", rbacv1.Subject{Kind: "User", Name: "system:serviceaccount:jobs:spark"}, "x", true},
		{"namespace group", rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts:jobs"}, "x", true},
		{"other namespace group", rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts:other"}, "x", false},
		{"all accounts group", rbacv1.Subject{Kind: "Group", Name: "system:serviceaccounts"}, "", true},
		{"authenticated group", rbacv1.Subject{Kind: "Group", Name: "system:authenticated"}, "", true},
		{"unauthenticated group", rbacv1.Subject{Kind: "Group", Name: "system:unauthenticated"}, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := NewGraph()
			g.AddClusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Rules: []rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("delete"))}})
			if c.bindNS == "" {
				g.AddClusterRoleBinding(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cm"}, Subjects: []rbacv1.Subject{c.subject}})
			} else {
				g.AddRoleBinding(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: c.bindNS}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cm"}, Subjects: []rbacv1.Subject{c.subject}})
			}
			ns := c.bindNS
			if ns == "" {
				ns = "anywhere"
			}
			a, _, _ := g.evaluate(sa, Request{Verb: "delete", Resource: "configmaps", Namespace: ns})
			if got := a.Scope == AllNames; got != c.want {
				t.Fatalf("allowed %v, want %v", got, c.want)
			}
		})
	}
}

func TestRoleBindingsHoldOnlyInTheirNamespaceAndMastersBypassRBAC(t *testing.T) {
	g := NewGraph()
	g.AddRole(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "a"}, Rules: []rbacv1.PolicyRule{rule(s(""), s("configmaps"), s("delete"))}})
	g.AddRoleBinding(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "a"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}})
	g.AddRoleBinding(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ghost", Namespace: "a"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "missing"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}})
	alice := Identity{User: "alice", Groups: []string{GroupAuthenticated}}
	for ns, want := range map[string]Scope{"a": AllNames, "b": No, "": No} {
		a, _, missing := g.evaluate(alice, Request{Verb: "delete", Resource: "configmaps", Namespace: ns})
		if a.Scope != want {
			t.Errorf("namespace %q: %v, want %v", ns, a.Scope, want)
		}
		if ns == "a" && (len(missing) != 1 || !missing[0].RoleMissing) {
			t.Errorf("the binding to a missing Role must be reported: %+v", missing)
		}
	}
	root := Identity{User: "root", Groups: []string{GroupMasters}}
	if a, _, _ := g.evaluate(root, Request{Verb: "delete", Resource: "nodes"}); a.Scope != AllNames {
		t.Errorf("system:masters: %v", a.Scope)
	}
}

func TestAggregatedClusterRoleNamesTheRoleItCopiedARuleFrom(t *testing.T) {
	g := NewGraph()
	child := rule(s(""), s("configmaps"), s("delete"))
	g.AddClusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "child", Labels: map[string]string{"agg": "true"}}, Rules: []rbacv1.PolicyRule{child}})
	g.AddClusterRole(&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "parent"}, Rules: []rbacv1.PolicyRule{child},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"agg": "true"}}}}})
	g.AddClusterRoleBinding(&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "parent"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "ops"}}})
	grants := g.GrantsOf(Identity{User: "u", Groups: []string{"ops"}})
	if len(grants) != 1 || grants[0].AggregatedFrom != "child" ||
		grants[0].Via() != "Group ops -> ClusterRoleBinding b -> ClusterRole parent <- aggregated from ClusterRole child" {
		t.Fatalf("grants %+v", grants)
	}
}

func TestParseResourceReadsGroupAndSubresource(t *testing.T) {
	for arg, want := range map[string]ResourceArg{
		"configmaps":                             {Resource: "configmaps", Namespaced: true},
		"pods/log":                               {Resource: "pods", Subresource: "log", Namespaced: true},
		"deployments.apps/scale":                 {Resource: "deployments", Group: "apps", Subresource: "scale", GroupGiven: true, Namespaced: true},
		"sparkapplications.sparkoperator.k8s.io": {Resource: "sparkapplications", Group: "sparkoperator.k8s.io", GroupGiven: true, Namespaced: true},
		"*/status":                               {Resource: "*", Subresource: "status", Namespaced: true},
	} {
		got, err := ParseResource(arg)
		if err != nil || got != want {
			t.Errorf("ParseResource(%q) = %+v, %v; want %+v", arg, got, err, want)
		}
	}
	for _, bad := range []string{"", "/log", "pods/", "pods/a/b", "ConfigMaps", "pods."} {
		if _, err := ParseResource(bad); err == nil {
			t.Errorf("ParseResource(%q) accepted", bad)
		}
	}
}
