package hook

import "fmt"

// UsageError is bad input: a malformed target, an unknown context or
// namespace. It is reported in one line and nothing is changed.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

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

// StillRunningError is returned when the application has not finished and
// the caller did not ask to wait. Nothing was deleted.
type StillRunningError struct {
	Namespace string
	App       string // what identifies it: SparkApplication, driver Pod or app id
	State     string // SparkApplication state or driver Pod phase
}

func (e *StillRunningError) Error() string {
	return fmt.Sprintf("application %s in namespace %s is still running (%s); nothing deleted", e.App, e.Namespace, e.State)
}

// PartialFailureError is returned when the run finished but some maps could
// not be deleted; the Result lists them under Failed.
type PartialFailureError struct{ Failed int }

func (e *PartialFailureError) Error() string {
	return fmt.Sprintf("%d configmap(s) could not be deleted", e.Failed)
}
