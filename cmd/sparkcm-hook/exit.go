package main

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
)

// Exit codes are part of the interface: the README, --help (exitCodesHelp;
// rbac's and check's own codes in rbacExitCodes and checkExitCodes) and the
// Airflow package (sparkcm_airflow.cleanup) name the same ones.
const (
	exitOK        = 0 // done, also when there was nothing to delete
	exitFailed    = 1 // failed after retries, or some maps could not be deleted
	exitUsage     = 2 // invalid usage or input; nothing was changed
	exitForbidden = 3 // the API server refused a verb (RBAC) or the credentials (401)
	exitRunning   = 4 // the application is still running; nothing was deleted
	exitDisagrees = 5 // rbac who-can: the API server disagrees with the roles and bindings
	exitFindings  = 5 // check: the manifests have findings; the same "ran and found something to look at"
)

const exitCodesHelp = `EXIT CODES:
   0  done, also when there was nothing to delete
   1  failed after retries, or some ConfigMaps could not be deleted
   2  invalid usage or input (nothing was changed)
   3  refused: the API server refused a verb (RBAC; the message names the rule to grant)
      or the credentials (expired, revoked or malformed; nothing was changed)
   4  the application is still running (nothing was deleted)`

// checkExitCodes are check's: 5 there means findings, the same "ran and
// found something to look at" as rbac who-can's.
const checkExitCodes = `EXIT CODES:
   0  clean: no findings (notes, such as a file that did not parse, do not count)
   1  failed: a file could not be read
   2  invalid usage or input: a path that does not exist, an unknown -o
   5  findings: the output lists each with file:line, rule, message and remedy`

// exitCode maps an error to its documented exit code by the error's type
// alone, never by its message: a server answer that happens to say "invalid
// value" is a failure (1), not a usage error.
func exitCode(err error) int {
	var (
		usage     *hook.UsageError
		cliExit   cli.ExitCoder
		forbidden *hook.ForbiddenError
		refused   *hook.UnauthorizedError
		running   *hook.StillRunningError
		disagrees *rbac.DisagreementError
		findings  *lint.FindingsError
	)
	switch {
	case err == nil:
		return exitOK
	// Flag errors arrive as *hook.UsageError (see usageError). urfave/cli
	// makes an ExitCoder only of its own complaints ("help" for a command
	// that does not exist, with its code 3, which means forbidden here);
	// this program returns none.
	case errors.As(err, &usage), errors.As(err, &cliExit):
		return exitUsage
	case errors.As(err, &forbidden), errors.As(err, &refused):
		return exitForbidden
	case errors.As(err, &running):
		return exitRunning
	case errors.As(err, &disagrees):
		return exitDisagrees
	case errors.As(err, &findings):
		return exitFindings
	default:
		return exitFailed
	}
}

// usageError is every command's OnUsageError: urfave/cli reports flag parse
// errors (unknown flag, missing or malformed value, from the command line or
// the environment) as plain errors through this function only, so typing
// them here is what lets exitCode recognise them. The help text is not
// printed: one line says what was wrong.
func usageError(c *cli.Context, err error, _ bool) error {
	name := "--help"
	if c != nil && c.Command != nil && c.Command.HelpName != "" {
		name = c.Command.HelpName + " --help"
	} else if c != nil && c.App != nil {
		name = c.App.Name + " --help"
	}
	return hook.Usagef("%v (see %s)", err, name)
}

// oneLine keeps error output to the single line the interface promises.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
