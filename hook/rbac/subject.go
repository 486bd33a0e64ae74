package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// The groups the API server adds by itself: every authenticated user is in
// system:authenticated, every ServiceAccount also in system:serviceaccounts
// and system:serviceaccounts:<its namespace>. Members of system:masters
// pass every authorization check without RBAC.
const (
	GroupAuthenticated   = "system:authenticated"
	GroupServiceAccounts = "system:serviceaccounts"
	GroupMasters         = "system:masters"
	serviceAccountPrefix = "system:serviceaccount:"
)

// Identity is who sends a request: a user name and the groups it is in.
type Identity struct {
	User   string
	Groups []string
}

// ServiceAccountGroup is the implicit group of every ServiceAccount of a
// namespace.
func ServiceAccountGroup(ns string) string { return GroupServiceAccounts + ":" + ns }

// ServiceAccountUser is the user name a ServiceAccount's token authenticates as.
func ServiceAccountUser(ns, name string) string { return serviceAccountPrefix + ns + ":" + name }

// ServiceAccountIdentity is the identity of a ServiceAccount's token,
// implicit groups included.
func ServiceAccountIdentity(ns, name string) Identity {
	return Identity{User: ServiceAccountUser(ns, name), Groups: []string{GroupServiceAccounts, ServiceAccountGroup(ns), GroupAuthenticated}}
}

// ParseServiceAccountUser splits system:serviceaccount:<ns>:<name>.
func ParseServiceAccountUser(user string) (ns, name string, ok bool) {
	rest, found := strings.CutPrefix(user, serviceAccountPrefix)
	if !found {
		return "", "", false
	}
	ns, name, found = strings.Cut(rest, ":")
	if !found || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return ns, name, true
}

// Subject is someone a binding or an answer names.
type Subject struct {
	Kind      string `json:"kind"` // User, Group or ServiceAccount
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"` // ServiceAccounts only
}

func (s Subject) String() string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return fmt.Sprintf("ServiceAccount %s/%s", s.Namespace, s.Name)
	}
	return s.Kind + " " + s.Name
}

// Identity is the identity the subject authenticates as: a ServiceAccount
// with its implicit groups, a user in system:authenticated, or a group
// alone (what its members have in common).
func (s Subject) Identity() Identity {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		return ServiceAccountIdentity(s.Namespace, s.Name)
	case rbacv1.UserKind:
		if ns, name, ok := ParseServiceAccountUser(s.Name); ok {
			return ServiceAccountIdentity(ns, name)
		}
		return Identity{User: s.Name, Groups: []string{GroupAuthenticated}}
	default:
		return Identity{Groups: []string{s.Name}}
	}
}

// subjectKey is how a binding subject is indexed: ServiceAccount subjects
// match by user name (a User subject named system:serviceaccount:ns:sa
// matches the ServiceAccount too, and the other way round).
func subjectKey(s rbacv1.Subject, bindingNamespace string) (string, bool) {
	switch s.Kind {
	case rbacv1.UserKind:
		return "u:" + s.Name, true
	case rbacv1.GroupKind:
		return "g:" + s.Name, true
	case rbacv1.ServiceAccountKind:
		ns := bindingNamespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		if ns == "" {
			return "", false
		}
		return "u:" + ServiceAccountUser(ns, s.Name), true
	}
	return "", false
}

// keys are the index keys an identity is found under.
func (id Identity) keys() []string {
	var k []string
	if id.User != "" {
		k = append(k, "u:"+id.User)
	}
	for _, g := range id.Groups {
		k = append(k, "g:"+g)
	}
	return k
}

// IsMaster reports membership of system:masters, which bypasses RBAC.
func (id Identity) IsMaster() bool { return slices.Contains(id.Groups, GroupMasters) }

// toSubject is the answer's subject for a binding subject.
func toSubject(s rbacv1.Subject, bindingNamespace string) Subject {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return Subject{Kind: rbacv1.ServiceAccountKind, Name: s.Name, Namespace: ns}
	case rbacv1.UserKind:
		if ns, name, ok := ParseServiceAccountUser(s.Name); ok {
			return Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
		}
	}
	return Subject{Kind: s.Kind, Name: s.Name}
}
