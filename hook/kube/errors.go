package kube

import "fmt"

// ForbiddenError says who lacked which verb on which resource where, and the
// RBAC rule that would grant it.
type ForbiddenError struct {
	User      string // the identity the API server saw, when known
	Verb      string
	Group     string
	Resource  string
	Namespace string
	Err       error
}

func (e *ForbiddenError) Error() string {
	who := e.User
	if who == "" {
		who = "the current identity"
	}
	where := "cluster-wide"
	if e.Namespace != "" {
		where = "in namespace " + e.Namespace
	}
	return fmt.Sprintf("forbidden: %s may not %s %s %s; grant it with an RBAC rule {apiGroups: [%q], resources: [%q], verbs: [%q]}",
		who, e.Verb, ResourceName(e.Group, e.Resource), where, e.Group, e.Resource, e.Verb)
}

// ResourceName is a resource as kubectl names it: RESOURCE.GROUP, or
// RESOURCE alone in the core group.
func ResourceName(group, resource string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// UnauthorizedError is the API server refusing the credentials themselves
// (401): a token that expired, was revoked or is malformed, a client
// certificate it does not trust. No retry can help; nothing was changed.
type UnauthorizedError struct {
	Op  string // what was being done
	Err error
}

func (e *UnauthorizedError) Error() string {
	return fmt.Sprintf("unauthorized: the API server refused the credentials (an expired, revoked or malformed token, or a client certificate it does not trust) to %s; nothing was changed", e.Op)
}

func (e *UnauthorizedError) Unwrap() error { return e.Err }
