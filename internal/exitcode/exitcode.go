// Package exitcode is the one definition of sparkcm-hook's exit codes: the
// numbers and which error, by its type, ends a run with which. The command
// line exits with Of(err); tests that call the library directly expect
// Of(err) of what it returned; the Airflow package's copy of the numbers
// is checked against this file (airflow/tests/test_exit_codes.py).
package exitcode

import (
	"errors"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
)

// The exit codes are part of the interface: the README, --help and the
// Airflow package (sparkcm_airflow.cleanup) name the same ones.
const (
	OK        = 0 // done, also when there was nothing to delete
	Failed    = 1 // failed after retries, or some maps could not be deleted
	Usage     = 2 // invalid usage or input; nothing was changed
	Forbidden = 3 // the API server refused a verb (RBAC) or the credentials (401)
	Running   = 4 // the application is still running; nothing was deleted
	Disagrees = 5 // rbac who-can: the API server disagrees with the roles and bindings
	Findings  = 5 // check: the manifests have findings; the same "ran and found something to look at"
)

// Of maps an error to its documented exit code by the error's type alone,
// never by its message: a server answer that happens to say "invalid
// value" is a failure, not a usage error.
func Of(err error) int {
	var (
		usage        *hook.UsageError
		forbidden    *hook.ForbiddenError
		unauthorized *hook.UnauthorizedError
		running      *hook.StillRunningError
		disagrees    *rbac.DisagreementError
		findings     *lint.FindingsError
	)
	switch {
	case err == nil:
		return OK
	case errors.As(err, &usage):
		return Usage
	case errors.As(err, &forbidden), errors.As(err, &unauthorized):
		return Forbidden
	case errors.As(err, &running):
		return Running
	case errors.As(err, &disagrees):
		return Disagrees
	case errors.As(err, &findings):
		return Findings
	}
	return Failed
}
