// Package exittest tells, for tests that call the library directly, the exit
// code the command line gives an error.
package exittest

import (
	"errors"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
)

// ExitOf is the exit code the command line gives a library error, by the
// error's type: what tests that call hook directly expect the binary to
// say. cmd/sparkcm-hook's exitCode is the one that decides; a test there
// keeps the two in step.
func ExitOf(err error) int {
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
		return 0
	case errors.As(err, &usage):
		return 2
	case errors.As(err, &forbidden), errors.As(err, &unauthorized):
		return 3
	case errors.As(err, &running):
		return 4
	case errors.As(err, &disagrees), errors.As(err, &findings):
		return 5
	}
	return 1
}
