package hook

import (
	"fmt"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// UsageError is bad input: a malformed target, an unknown context or
// namespace. It is reported in one line and nothing is changed.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ForbiddenError is the API server's 403, defined with the plumbing that
// recognises it (hook/kube); the library's callers match it as hook's.
type ForbiddenError = kube.ForbiddenError

// UnauthorizedError is the API server's 401, defined likewise.
type UnauthorizedError = kube.UnauthorizedError

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
