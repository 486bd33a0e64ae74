package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exittest"
)

// Tests that call the library directly expect the exit code through
// exittest.ExitOf; it must say what the binary says.
func TestExitTestAgreesWithTheCommandLinesExitCodes(t *testing.T) {
	for _, err := range []error{
		nil,
		hook.Usagef("bad flag"),
		&hook.ForbiddenError{},
		&hook.UnauthorizedError{},
		&hook.StillRunningError{},
		&hook.PartialFailureError{Failed: 1},
		fmt.Errorf("wrapped: %w", &hook.StillRunningError{}),
		&rbac.DisagreementError{Disagreements: 1},
		&lint.FindingsError{Findings: 1, Files: 1},
		context.DeadlineExceeded,
		errors.New("plain failure"),
	} {
		if got, want := exittest.ExitOf(err), exitCode(err); got != want {
			t.Errorf("%T %v: exittest says %d, the command line %d", err, err, got, want)
		}
	}
}
