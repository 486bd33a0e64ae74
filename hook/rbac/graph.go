package rbac

import (
	"slices"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Ref names a Role, ClusterRole, RoleBinding or ClusterRoleBinding.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

type role struct {
	ref         Ref
	rules       []rbacv1.PolicyRule
	labels      map[string]string
	aggregation []labels.Selector // ClusterRoles with an aggregationRule
}

type binding struct {
	ref      Ref
	roleRef  Ref // Role refs carry the binding's namespace
	subjects []rbacv1.Subject
}

// Grant is one path from a subject to one rule: the binding subject that
// matched (the account itself or a group it is in), the binding, the role,
// and the rule. A binding whose role does not exist is a grant with
// RoleMissing set and no rule: the authorizer reports it as an evaluation
// error.
type Grant struct {
	Subject Subject `json:"subject"`
	Binding Ref     `json:"binding"`
	Role    Ref     `json:"role"`
	// AggregatedFrom is the ClusterRole an aggregated ClusterRole copied
	// the rule from, when one has an identical rule.
	AggregatedFrom string             `json:"aggregatedFrom,omitempty"`
	Rule           rbacv1.PolicyRule  `json:"rule"`
	RoleMissing    bool               `json:"roleMissing,omitempty"`
	rule           *rbacv1.PolicyRule // nil when the role is missing
}

// ClusterWide reports a grant through a ClusterRoleBinding: it holds in
// every namespace.
func (g Grant) ClusterWide() bool { return g.Binding.Kind == "ClusterRoleBinding" }

// Via is the binding path: Group system:serviceaccounts:airflow ->
// ClusterRoleBinding x -> ClusterRole y.
func (g Grant) Via() string {
	s := g.Subject.String() + " -> " + g.Binding.String() + " -> " + g.Role.String()
	if g.AggregatedFrom != "" {
		s += " <- aggregated from ClusterRole " + g.AggregatedFrom
	}
	if g.RoleMissing {
		s += " (not found)"
	}
	return s
}

// Graph is every role and binding the caller could read, indexed by
// subject. It holds rules and subjects only: its size grows with the number
// of roles and bindings, never with Pods or ServiceAccounts.
type Graph struct {
	clusterRoles map[string]*role
	roles        map[string]*role // namespace/name
	bindings     []*binding
	byKey        map[string][]subjectUse
	clusterBound []int            // indexes into bindings
	nsBound      map[string][]int // namespace -> indexes
	aggCache     map[aggKey]string
}

type subjectUse struct {
	binding int
	subject rbacv1.Subject
}

type aggKey struct {
	role string
	rule int
}

// NewGraph indexes roles and bindings.
func NewGraph() *Graph {
	return &Graph{clusterRoles: map[string]*role{}, roles: map[string]*role{}, byKey: map[string][]subjectUse{}, nsBound: map[string][]int{}, aggCache: map[aggKey]string{}}
}

// AddClusterRole adds a ClusterRole; its stored rules are what the
// authorizer uses (for an aggregated one, what the aggregation controller
// last wrote).
func (g *Graph) AddClusterRole(cr *rbacv1.ClusterRole) {
	r := &role{ref: Ref{Kind: "ClusterRole", Name: cr.Name}, rules: cr.Rules, labels: cr.Labels}
	if cr.AggregationRule != nil {
		for _, s := range cr.AggregationRule.ClusterRoleSelectors {
			if sel, err := metav1.LabelSelectorAsSelector(&s); err == nil {
				r.aggregation = append(r.aggregation, sel)
			}
		}
	}
	g.clusterRoles[cr.Name] = r
}

// AddRole adds a Role.
func (g *Graph) AddRole(ro *rbacv1.Role) {
	g.roles[ro.Namespace+"/"+ro.Name] = &role{ref: Ref{Kind: "Role", Namespace: ro.Namespace, Name: ro.Name}, rules: ro.Rules}
}

// AddClusterRoleBinding adds a ClusterRoleBinding.
func (g *Graph) AddClusterRoleBinding(b *rbacv1.ClusterRoleBinding) {
	g.addBinding(&binding{ref: Ref{Kind: "ClusterRoleBinding", Name: b.Name}, roleRef: Ref{Kind: b.RoleRef.Kind, Name: b.RoleRef.Name}, subjects: b.Subjects})
}

// AddRoleBinding adds a RoleBinding.
func (g *Graph) AddRoleBinding(b *rbacv1.RoleBinding) {
	ref := Ref{Kind: b.RoleRef.Kind, Name: b.RoleRef.Name}
	if ref.Kind == "Role" {
		ref.Namespace = b.Namespace
	}
	g.addBinding(&binding{ref: Ref{Kind: "RoleBinding", Namespace: b.Namespace, Name: b.Name}, roleRef: ref, subjects: b.Subjects})
}

func (g *Graph) addBinding(b *binding) {
	i := len(g.bindings)
	g.bindings = append(g.bindings, b)
	if b.ref.Kind == "ClusterRoleBinding" {
		g.clusterBound = append(g.clusterBound, i)
	} else {
		g.nsBound[b.ref.Namespace] = append(g.nsBound[b.ref.Namespace], i)
	}
	for _, s := range b.subjects {
		if k, ok := subjectKey(s, b.ref.Namespace); ok {
			g.byKey[k] = append(g.byKey[k], subjectUse{binding: i, subject: s})
		}
	}
}

// Sizes are the numbers of roles and bindings indexed.
func (g *Graph) Sizes() (roles, bindings int) {
	return len(g.roles) + len(g.clusterRoles), len(g.bindings)
}

// roleOf resolves a binding's roleRef; nil when it does not exist (or could
// not be read).
func (g *Graph) roleOf(b *binding) *role {
	switch b.roleRef.Kind {
	case "ClusterRole":
		return g.clusterRoles[b.roleRef.Name]
	case "Role":
		return g.roles[b.roleRef.Namespace+"/"+b.roleRef.Name]
	}
	return nil
}

// aggregatedFrom names the ClusterRole an aggregated ClusterRole's rule i
// was copied from: the first, by name, whose labels the aggregation rule
// selects and that holds an identical rule.
func (g *Graph) aggregatedFrom(r *role, i int) string {
	if len(r.aggregation) == 0 {
		return ""
	}
	k := aggKey{r.ref.Name, i}
	if v, ok := g.aggCache[k]; ok {
		return v
	}
	var names []string
	for name, c := range g.clusterRoles {
		if name == r.ref.Name {
			continue
		}
		for _, sel := range r.aggregation {
			if sel.Matches(labels.Set(c.labels)) && slices.ContainsFunc(c.rules, func(x rbacv1.PolicyRule) bool { return ruleEqual(x, r.rules[i]) }) {
				names = append(names, name)
				break
			}
		}
	}
	sort.Strings(names)
	v := ""
	if len(names) > 0 {
		v = names[0]
	}
	g.aggCache[k] = v
	return v
}

func ruleEqual(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
		slices.Equal(a.ResourceNames, b.ResourceNames) && slices.Equal(a.NonResourceURLs, b.NonResourceURLs)
}

// grantsOf lists every grant of the binding at index bi to the binding
// subject s, one per rule.
func (g *Graph) grantsOf(bi int, s rbacv1.Subject) []Grant {
	b := g.bindings[bi]
	base := Grant{Subject: toSubject(s, b.ref.Namespace), Binding: b.ref, Role: b.roleRef}
	r := g.roleOf(b)
	if r == nil {
		base.RoleMissing = true
		return []Grant{base}
	}
	out := make([]Grant, 0, len(r.rules))
	for i := range r.rules {
		gr := base
		gr.Rule = r.rules[i]
		gr.rule = &r.rules[i]
		gr.AggregatedFrom = g.aggregatedFrom(r, i)
		out = append(out, gr)
	}
	return out
}

// GrantsOf lists every grant that reaches id anywhere: through
// ClusterRoleBindings and through RoleBindings in any namespace, directly
// or through its groups. Sorted by path.
func (g *Graph) GrantsOf(id Identity) []Grant {
	var out []Grant
	for _, k := range id.keys() {
		for _, u := range g.byKey[k] {
			out = append(out, g.grantsOf(u.binding, u.subject)...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ClusterWide() != b.ClusterWide() {
			return a.ClusterWide()
		}
		return a.Via() < b.Via()
	})
	return out
}

// keyAnswers are the answers of every binding subject in one scope.
type keyAnswers map[string]*keyAnswer

type keyAnswer struct {
	subject Subject
	answer  Answer
	grants  []Grant
}

// answersIn evaluates req for every subject named by a binding in scope:
// ClusterRoleBindings when cluster is set, and the RoleBindings of req's
// namespace when roleBindings is set.
func (g *Graph) answersIn(req Request, cluster, roleBindings bool) (keyAnswers, []Grant) {
	out := keyAnswers{}
	var missing []Grant
	var idx []int
	if cluster {
		idx = append(idx, g.clusterBound...)
	}
	if roleBindings && req.Namespace != "" {
		idx = append(idx, g.nsBound[req.Namespace]...)
	}
	for _, bi := range idx {
		b := g.bindings[bi]
		r := g.roleOf(b)
		if r == nil {
			missing = append(missing, Grant{Binding: b.ref, Role: b.roleRef, RoleMissing: true})
			continue
		}
		var matched []int
		for i := range r.rules {
			if matchesIgnoringName(r.rules[i], req) {
				matched = append(matched, i)
			}
		}
		if len(matched) == 0 {
			continue
		}
		for _, s := range b.subjects {
			k, ok := subjectKey(s, b.ref.Namespace)
			if !ok {
				continue
			}
			ka := out[k]
			if ka == nil {
				ka = &keyAnswer{subject: toSubject(s, b.ref.Namespace)}
				out[k] = ka
			}
			all := g.grantsOf(bi, s)
			for _, i := range matched {
				ka.answer.add(r.rules[i])
				ka.grants = append(ka.grants, all[i])
			}
		}
	}
	return out, missing
}

// combine is the answer of an identity from the per-key answers of a scope.
func (ka keyAnswers) combine(id Identity) (Answer, []Grant) {
	var a Answer
	var grants []Grant
	if id.IsMaster() {
		a.Scope = AllNames
	}
	for _, k := range id.keys() {
		if x := ka[k]; x != nil {
			for _, gr := range x.grants {
				a.add(*gr.rule)
			}
			grants = append(grants, x.grants...)
		}
	}
	return a, grants
}
