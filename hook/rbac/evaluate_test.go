package rbac

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The tests ask the graph one subject and one rule at a time; who-can asks
// for every subject in scope at once (answersIn), with the same matching.

// inScope reports whether a binding applies to requests in namespace ns:
// ClusterRoleBindings always, RoleBindings only in their own namespace.
func (b *binding) inScope(ns string) bool {
	return b.ref.Kind == "ClusterRoleBinding" || (ns != "" && b.ref.Namespace == ns)
}

// evaluate is what RBAC answers for id and req from this graph: the
// three-valued answer for req's verb and resource (req.Name is not looked
// at: use Answer.Allows), the grants that give it, and the bindings whose
// role is missing (the authorizer's evaluation errors). Members of
// system:masters are allowed everything.
func (g *Graph) evaluate(id Identity, req Request) (Answer, []Grant, []Grant) {
	var a Answer
	var grants, missing []Grant
	if id.IsMaster() {
		a.Scope = AllNames
	}
	for _, k := range id.keys() {
		for _, u := range g.byKey[k] {
			if !g.bindings[u.binding].inScope(req.Namespace) {
				continue
			}
			for _, gr := range g.grantsOf(u.binding, u.subject) {
				switch {
				case gr.RoleMissing:
					missing = append(missing, gr)
				case matchesIgnoringName(*gr.rule, req):
					a.add(*gr.rule)
					grants = append(grants, gr)
				}
			}
		}
	}
	return a, grants, missing
}

// ruleAllows reports whether rule allows req, names included.
func ruleAllows(rule rbacv1.PolicyRule, req Request) bool {
	if !matchesIgnoringName(rule, req) {
		return false
	}
	if len(rule.ResourceNames) == 0 {
		return true
	}
	return req.Name != "" && slices.Contains(rule.ResourceNames, req.Name)
}
