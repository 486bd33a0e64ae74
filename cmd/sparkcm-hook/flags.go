package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// env is the environment variable of a flag: SPARKCM_ and its name in upper
// case, dashes as underscores (--older-than: SPARKCM_OLDER_THAN).
func env(flag string) []string {
	return []string{"SPARKCM_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// withGlobals is a command's flags: its own groups, then its copy of the
// shared ones.
func withGlobals(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return append(all, globalFlags()...)
}

// common are the options every command that talks to the API server has,
// with one meaning in each: -o picks the printer of the result on stdout
// (from the command's own list), --timeout bounds the whole run,
// --retry-budget each API call's retries.
type common struct {
	args        []string // positional arguments: only who-can takes any
	output      string
	formats     []string // the -o values the command prints; the first is the default
	timeout     time.Duration
	retryBudget time.Duration
}

// flags are the common flags of a command that prints its result in one
// of formats.
func (o *common) flags(formats ...string) []cli.Flag {
	o.formats = formats
	return []cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: formats[0], Usage: "result format on stdout: " + strings.Join(formats, ", "), EnvVars: env("output"), Destination: &o.output},
		&cli.DurationFlag{Name: "timeout", Usage: "give up after this long in total, waiting and retries included (0: no limit)", EnvVars: env("timeout"), Destination: &o.timeout},
		&cli.DurationFlag{Name: "retry-budget", Value: hook.DefaultRetryBudget, Usage: "how long each API call may be retried on transient failures", EnvVars: env("retry-budget"), Destination: &o.retryBudget},
	}
}

// retry is the library's retry policy for --retry-budget; the library
// fills in the rest.
func (o *common) retry() hook.RetryPolicy { return hook.RetryPolicy{Budget: o.retryBudget} }

func (o *common) shared() *common { return o }

// validate checks the common options of the named command, which takes
// no arguments.
func (o *common) validate(command string) error {
	if err := noArgs(command, o.args); err != nil {
		return err
	}
	return o.validateFlags()
}

// validateFlags checks the common flags alone.
func (o *common) validateFlags() error {
	if err := checkOutput(o.output, o.formats...); err != nil {
		return err
	}
	switch {
	case o.timeout < 0:
		return hook.Usagef("--timeout must not be negative")
	case o.retryBudget <= 0:
		return hook.Usagef("--retry-budget must be positive")
	}
	return nil
}

// deleting are the options of the commands that delete (cleanup, sweep,
// watch) besides the common ones; their result is the ledger, printed by
// one of formats.
type deleting struct {
	common
	dryRun      bool
	concurrency int
	preflight   bool

	// out prints the result in the -o format; streamed says the command
	// handed it every entry as it was decided (sweep), so that the result
	// only holds the counts.
	out      sink
	streamed bool
}

// flags are the deleting commands' flags; only the default concurrency
// differs between them.
func (o *deleting) flags(defaultConcurrency int) []cli.Flag {
	return append(o.common.flags(formatList()...),
		&cli.BoolFlag{Name: "dry-run", Usage: "report what would be deleted, delete nothing", EnvVars: env("dry-run"), Destination: &o.dryRun},
		&cli.IntFlag{Name: "concurrency", Value: defaultConcurrency, Usage: "deletes in flight at once", EnvVars: env("concurrency"), Destination: &o.concurrency},
		preflightFlag(&o.preflight),
	)
}

// validate checks the options of the named deleting command.
func (o *deleting) validate(command string) error {
	if err := o.common.validate(command); err != nil {
		return err
	}
	if o.concurrency < 1 {
		return hook.Usagef("--concurrency must be at least 1")
	}
	return nil
}

// take sets the library's fields of the deleting options.
func (o *deleting) take(dryRun *bool, concurrency *int, retry *hook.RetryPolicy) {
	*dryRun, *concurrency, *retry = o.dryRun, o.concurrency, o.retry()
}

// ledger runs a deleting command and prints its result in the -o format,
// also when the run failed (the result then says what was done before the
// failure).
func (o *deleting) ledger(w io.Writer, log *slog.Logger, run func() (*hook.Result, error)) error {
	o.out = sinkFor(o.output, w, log)
	res, err := run()
	if res != nil {
		if !o.streamed {
			feed(o.out, res)
		}
		if werr := o.out.finish(res); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// allNamespacesFlag is -A, for sweep and the rbac commands.
func allNamespacesFlag(dst *bool, usage string) cli.Flag {
	return &cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: usage, EnvVars: env("all-namespaces"), Destination: dst}
}

// noEventFlag is shared by the commands that record a summary Event.
func noEventFlag(dst *bool) cli.Flag {
	return &cli.BoolFlag{Name: "no-event", Usage: "do not record a summary Event", EnvVars: env("no-event"), Destination: dst}
}

// noArgs refuses positional arguments, which no command but who-can takes.
func noArgs(command string, args []string) error {
	if len(args) > 0 {
		return hook.Usagef("%s takes no arguments, got %q", command, args[0])
	}
	return nil
}

// options are a command's options, handled in the same order by every
// command (as kubectl's Complete, Validate, Run): complete takes what the
// flags cannot hold, Validate checks every flag without reading any
// configuration, run does the work once the configuration is read and
// prints the result on stdout in the -o format.
type options interface {
	complete(c *cli.Context, g *globals)
	Validate() error
	run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error
	shared() *common
}
