package main

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
)

// The exit codes and which error ends a run with which are defined once,
// in internal/exitcode; --help names them (exitCodesHelp; rbac's and
// check's own codes in rbacExitCodes and checkExitCodes).

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

// exitCode is the exit code of a run that ended with err. urfave/cli makes
// an ExitCoder only of its own complaints ("help" for a command that does
// not exist, with its code 3, which means forbidden here): a usage error;
// this program returns none. Flag errors arrive as *hook.UsageError (see
// usageError).
func exitCode(err error) int {
	if cliExit := cli.ExitCoder(nil); errors.As(err, &cliExit) {
		return exitcode.Usage
	}
	return exitcode.Of(err)
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
