package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// The matching below follows the published rules of RBAC
// (https://kubernetes.io/docs/reference/access-authn-authz/rbac/): a rule
// allows a resource request when its verbs, API groups and resources match
// and, if it names resources, the request's name is one of them. "*" matches
// any verb, group or resource; "*/sub" matches subresource sub of any
// resource; a plain resource matches only the resource itself, not its
// subresources. A request without a name (list, create, a collection
// delete) is never allowed by a rule that names resources.

// Request is one resource request as the authorizer sees it.
type Request struct {
	Verb        string
	Group       string // "" is the core group
	Resource    string
	Subresource string
	Name        string // "" for a request that names no object
	Namespace   string // "" for a cluster-scoped request or one across all namespaces
}

// fullResource is resource or resource/subresource, the form rules use.
func (r Request) fullResource() string {
	if r.Subresource == "" {
		return r.Resource
	}
	return r.Resource + "/" + r.Subresource
}

// String is the request in the words of kubectl auth can-i.
func (r Request) String() string {
	s := r.Verb + " " + kube.ResourceName(r.Group, r.Resource)
	if r.Subresource != "" {
		s += "/" + r.Subresource
	}
	if r.Name != "" {
		s += " " + r.Name
	}
	return s
}

func verbMatches(rule rbacv1.PolicyRule, verb string) bool {
	return slices.Contains(rule.Verbs, rbacv1.VerbAll) || slices.Contains(rule.Verbs, verb)
}

func groupMatches(rule rbacv1.PolicyRule, group string) bool {
	return slices.Contains(rule.APIGroups, rbacv1.APIGroupAll) || slices.Contains(rule.APIGroups, group)
}

func resourceMatches(rule rbacv1.PolicyRule, req Request) bool {
	full := req.fullResource()
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll, r == full:
			return true
		case req.Subresource != "" && r == "*/"+req.Subresource:
			return true
		}
	}
	return false
}

// matchesIgnoringName reports whether rule covers req's verb, group and
// resource, whatever names it restricts to.
func matchesIgnoringName(rule rbacv1.PolicyRule, req Request) bool {
	return verbMatches(rule, req.Verb) && groupMatches(rule, req.Group) && resourceMatches(rule, req)
}

// hasWildcard reports whether the parts of rule that matched use a
// wildcard: "*" verbs, groups or resources, or a "*/sub" resource.
func hasWildcard(rule rbacv1.PolicyRule) bool {
	if slices.Contains(rule.Verbs, rbacv1.VerbAll) || slices.Contains(rule.APIGroups, rbacv1.APIGroupAll) {
		return true
	}
	for _, r := range rule.Resources {
		if r == rbacv1.ResourceAll || strings.HasPrefix(r, "*/") {
			return true
		}
	}
	return false
}

// Scope is a three-valued answer: may the subject do it to every object,
// only to some named ones, or not at all.
type Scope int

const (
	// No means no rule allows it.
	No Scope = iota
	// OnlyNames means only rules that name resources allow it; Names lists them.
	OnlyNames
	// AllNames means a rule allows it whatever the object's name.
	AllNames
)

func (s Scope) String() string {
	switch s {
	case AllNames:
		return "all names"
	case OnlyNames:
		return "only these names"
	default:
		return "no"
	}
}

// Answer is what the binding graph says one subject may do.
type Answer struct {
	Scope Scope
	// Names are the only names allowed when Scope is OnlyNames, sorted.
	Names []string
}

// add widens the answer by one matching rule.
func (a *Answer) add(rule rbacv1.PolicyRule) {
	if len(rule.ResourceNames) == 0 {
		a.Scope, a.Names = AllNames, nil
		return
	}
	if a.Scope == AllNames {
		return
	}
	a.Scope = OnlyNames
	for _, n := range rule.ResourceNames {
		if i, found := slices.BinarySearch(a.Names, n); !found {
			a.Names = slices.Insert(a.Names, i, n)
		}
	}
}

// Allows reports whether the answer allows a request for name ("" for a
// request that names no object).
func (a Answer) Allows(name string) bool {
	switch a.Scope {
	case AllNames:
		return true
	case OnlyNames:
		return name != "" && slices.Contains(a.Names, name)
	default:
		return false
	}
}

func (a Answer) String() string {
	if a.Scope == OnlyNames {
		return "only " + strings.Join(a.Names, ",")
	}
	if a.Scope == AllNames {
		return "yes"
	}
	return "no"
}
