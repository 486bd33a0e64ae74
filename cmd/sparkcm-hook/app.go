package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

func init() {
	// -v is the log verbosity, as in kubectl; the version has its own flag
	// and command.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	cli.VersionPrinter = func(c *cli.Context) { _, _ = fmt.Fprintln(c.App.Writer, versionLine(c.App.Name)) }
}

// Run is the whole program; main only turns its result into the exit code.
// Tests call it with their own arguments and streams.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return RunContext(ctx, args, stdin, stdout, stderr)
}

// RunContext is Run with a caller-owned context (cancelled on SIGTERM by Run).
func RunContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	prog := "sparkcm-hook"
	if len(args) > 0 {
		prog = programName(args[0])
	}
	app := newCLI(prog, stdin, stdout, stderr)
	err := app.RunContext(ctx, args)
	if errors.Is(err, errHelpShown) {
		err = nil
	}
	if err != nil {
		fmt.Fprintln(stderr, "error: "+oneLine(err.Error()))
	}
	return exitCode(err)
}

// newCLI is the whole command tree, built once per run; the documentation
// test walks it to check every command line the docs show.
func newCLI(prog string, stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	g := &globals{prog: prog, stdout: stdout, stderr: stderr}
	app := &cli.App{
		Name:  prog,
		Usage: "delete the ConfigMaps Spark on Kubernetes leaves behind, and nothing else",
		Description: `sparkcm-hook deletes only ConfigMaps that Spark (or the Spark Operator) generated for an
application that has finished, that no non-terminated Pod uses, that nobody supplied or marked
sparkcm-hook/keep: "true", and always with UID and resourceVersion preconditions. When in doubt it skips the map and
says why. Every run is idempotent: running it twice deletes nothing more, like rm -f.

Results go to stdout (-o ` + formatNames("|") + `); logs go to stderr (--log-format text|json).
Every flag can also be set through the environment variable shown beside it. In every command
--timeout bounds the whole run and --retry-budget how long each API call is retried.

` + exitCodesHelp,
		Version:         appVersion(), // shown in full by cli.VersionPrinter
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		Flags:           globalFlags(),
		HideHelpCommand: true,
		Commands: []*cli.Command{
			cleanupCommand(g),
			sweepCommand(g),
			reportCommand(g),
			watchCommand(g),
			adoptCommand(g),
			rbacCommand(g),
			checkCommand(g),
			controllerCommand(g),
			policyCommand(g),
			versionCommand(),
		},
		// Without a command: the help. With an unknown one: a usage error
		// (urfave/cli's own answer is "No help topic" with its exit code 3,
		// which means forbidden here).
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return hook.Usagef("unknown command %q (see %s --help)", c.Args().First(), c.App.Name)
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided below
		OnUsageError:   usageError,
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
		for _, sub := range cmd.Subcommands {
			sub.OnUsageError = usageError
		}
	}
	return app
}
