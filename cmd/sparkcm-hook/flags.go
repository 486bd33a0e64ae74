package main

import (
	"context"
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

// common are the options every command has besides the globals, with one
// meaning in each: --timeout bounds the whole run, --retry-budget each API
// call's retries.
type common struct {
	args        []string // positional arguments; no command takes any
	output      string
	timeout     time.Duration
	retryBudget time.Duration
	concurrency int
	dryRun      bool
	preflight   bool

	// out prints the result in the -o format; streamed says the command
	// handed it every entry as it was decided (sweep), so that the result
	// only holds the counts.
	out      sink
	streamed bool
}

// flags are the common flags; only the default concurrency differs between
// commands.
func (o *common) flags(defaultConcurrency int) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Usage: "report what would be deleted, delete nothing", EnvVars: env("dry-run"), Destination: &o.dryRun},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: formats[0].name, Usage: "result format on stdout: " + formatNames(", "), EnvVars: env("output"), Destination: &o.output},
		&cli.DurationFlag{Name: "timeout", Usage: "give up after this long in total, waiting and retries included (0: no limit)", EnvVars: env("timeout"), Destination: &o.timeout},
		&cli.DurationFlag{Name: "retry-budget", Value: hook.DefaultRetryPolicy.Budget, Usage: "how long each API call may be retried on transient failures", EnvVars: env("retry-budget"), Destination: &o.retryBudget},
		&cli.IntFlag{Name: "concurrency", Value: defaultConcurrency, Usage: "deletes in flight at once", EnvVars: env("concurrency"), Destination: &o.concurrency},
		preflightFlag(&o.preflight),
	}
}

// allNamespacesFlag is -A, for sweep and the rbac commands.
func allNamespacesFlag(dst *bool, usage string) cli.Flag {
	return &cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: usage, EnvVars: env("all-namespaces"), Destination: dst}
}

// noEventFlag is shared by the commands that record a summary Event.
func noEventFlag(dst *bool) cli.Flag {
	return &cli.BoolFlag{Name: "no-event", Usage: "do not record a summary Event", EnvVars: env("no-event"), Destination: dst}
}

// take takes what the flags cannot hold (the positional arguments), and
// sets the library's fields of the common options.
func (o *common) take(c *cli.Context, dryRun *bool, concurrency *int, retry *hook.RetryPolicy) {
	o.args = c.Args().Slice()
	*dryRun, *concurrency = o.dryRun, o.concurrency
	*retry = hook.RetryPolicy{Budget: o.retryBudget} // the library fills in the rest
}

func (o *common) shared() *common { return o }

// noArgs refuses positional arguments, which no command but who-can takes.
func noArgs(command string, args []string) error {
	if len(args) > 0 {
		return hook.Usagef("%s takes no arguments, got %q", command, args[0])
	}
	return nil
}

// validate checks the common options of the named command.
func (o *common) validate(command string) error {
	if err := noArgs(command, o.args); err != nil {
		return err
	}
	if err := checkOutput(o.output, formatList()...); err != nil {
		return err
	}
	switch {
	case o.timeout < 0:
		return hook.Usagef("--timeout must not be negative")
	case o.retryBudget <= 0:
		return hook.Usagef("--retry-budget must be positive")
	case o.concurrency < 1:
		return hook.Usagef("--concurrency must be at least 1")
	}
	return nil
}

// options are a command's options, handled in the same order by every
// command (as kubectl's Complete, Validate, Run): complete takes what the
// flags cannot hold, Validate checks every flag without reading any
// configuration, run does the work once the configuration is read.
type options interface {
	complete(c *cli.Context, g *globals)
	Validate() error
	run(ctx context.Context, g *globals, clients hook.Clients, ns string) (*hook.Result, error)
	shared() *common
}
