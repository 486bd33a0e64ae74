package main

import (
	"context"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// watchOptions are watch's flags: the common ones and the library's.
type watchOptions struct {
	deleting
	hook.WatchOptions
}

// Validate checks every flag of watch without reading any configuration.
func (o *watchOptions) Validate() error {
	if err := o.validate("watch"); err != nil {
		return err
	}
	if o.Grace <= 0 {
		// The library reads zero as its default: 0s would not be what was
		// asked for.
		return hook.Usagef("--grace must be positive (default %s)", hook.DefaultGrace)
	}
	if o.Pod == "" {
		return hook.Usagef("no driver Pod: pass --pod or set POD_NAME from the downward API")
	}
	return hook.ValidateObjectName("driver Pod name", o.Pod)
}

func (o *watchOptions) complete(_ *cli.Context, g *globals) {
	o.take(&o.DryRun, &o.Concurrency, &o.Retry)
	if g.namespace == "" {
		// The downward API's namespace, as the sidecar manifest sets it.
		g.namespace = os.Getenv("POD_NAMESPACE")
	}
}

func (o *watchOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	o.Namespace = ns
	if err := g.preflight(ctx, &o.common, o.preflight, hook.CommandWatch, clients, ns); err != nil {
		return err
	}
	return o.ledger(stdout, g.log, func() (*hook.Result, error) { return hook.Watch(ctx, clients, g.log, o.WatchOptions) })
}

func watchCommand(g *globals) *cli.Command {
	o := &watchOptions{}
	return &cli.Command{
		Name:      "watch",
		Usage:     "sidecar mode: wait for the driver container to end, then clean up its application",
		UsageText: g.prog + " watch [--pod NAME] [--container spark-kubernetes-driver] [-n NAMESPACE] [--dry-run] [-o " + formatNames("|") + "]",
		Description: `Runs beside the Spark driver in its Pod (spec.driver.sidecars of a SparkApplication, or a native
sidecar init container). It watches its own Pod (POD_NAME / POD_NAMESPACE from the downward API by
default), reconnecting when a watch ends, until the driver container (or the application) has
terminated, then runs exactly what "cleanup --driver-pod" runs, counting the driver as finished
although this sidecar keeps the Pod running. On SIGTERM (or when --timeout ends the run) it cleans
up, within --grace, only if the driver container had terminated by then: it waits up to 5s (at most
a quarter of --grace) for the kubelet to report that end, and exits with code 4, having deleted
nothing, when the driver still runs after that or ended only after the SIGTERM.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				&cli.StringFlag{Name: "pod", Usage: "the driver Pod (default: $POD_NAME, from the downward API)", EnvVars: append(env("pod"), "POD_NAME"), Destination: &o.Pod},
				&cli.StringFlag{Name: "container", Value: rule.DefaultDriverContainer, Usage: "the driver container to wait for", EnvVars: env("container"), Destination: &o.Container},
				&cli.DurationFlag{Name: "grace", Value: hook.DefaultGrace, Usage: "on SIGTERM, how long a last cleanup may take", EnvVars: env("grace"), Destination: &o.Grace},
				noEventFlag(&o.NoEvent),
			},
			o.flags(hook.DefaultCleanupConcurrency),
		),
		Action: g.action(o),
	}
}
