package main

import (
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

func watchCommand(g *globals) *cli.Command {
	var o hook.WatchOptions
	var output string
	return &cli.Command{
		Name:      "watch",
		Usage:     "sidecar mode: wait for the driver container to end, then clean up its application",
		UsageText: "sparkcm-hook watch [--pod NAME] [--container spark-kubernetes-driver] [-n NAMESPACE] [--dry-run] [-o text|json|yaml]",
		Description: `Runs beside the Spark driver in its Pod (spec.driver.sidecars of a SparkApplication, or a native
sidecar init container). It watches its own Pod (POD_NAME / POD_NAMESPACE from the downward API by
default), reconnecting when a watch ends, until the driver container (or the application) has
terminated, then runs exactly what "cleanup --driver-pod" runs, counting the driver as finished
although this sidecar keeps the Pod running. On SIGTERM it cleans up only if the driver has already
terminated (within --grace) and otherwise exits at once with code 4, having deleted nothing.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			preflightFlag(),
			&cli.StringFlag{Name: "pod", Usage: "the driver Pod (default: $POD_NAME, from the downward API)", EnvVars: []string{"SPARKCM_POD", "POD_NAME"}, Destination: &o.Pod},
			&cli.StringFlag{Name: "container", Value: hook.DefaultDriverContainer, Usage: "the driver container to wait for", EnvVars: []string{"SPARKCM_CONTAINER"}, Destination: &o.Container},
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be deleted, delete nothing", EnvVars: []string{"SPARKCM_DRY_RUN"}, Destination: &o.DryRun},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "result format on stdout: text, json or yaml", EnvVars: []string{"SPARKCM_OUTPUT"}, Destination: &output},
			&cli.DurationFlag{Name: "timeout", Value: hook.DefaultRetryPolicy.Budget, Usage: "budget for the cleanup once the driver ended, retries included", EnvVars: []string{"SPARKCM_TIMEOUT"}, Destination: &o.Retry.Budget},
			&cli.DurationFlag{Name: "grace", Value: 20 * time.Second, Usage: "on SIGTERM, how long a last cleanup may take", EnvVars: []string{"SPARKCM_GRACE"}, Destination: &o.Grace},
			&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "deletes in flight at once", EnvVars: []string{"SPARKCM_CONCURRENCY"}, Destination: &o.Concurrency},
			&cli.BoolFlag{Name: "no-event", Usage: "do not record a summary Event", EnvVars: []string{"SPARKCM_NO_EVENT"}, Destination: &o.NoEvent},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return hook.Usagef("watch takes no arguments, got %q", c.Args().First())
			}
			if err := checkOutput(output, "text", "json", "yaml"); err != nil {
				return err
			}
			if o.Pod == "" {
				return hook.Usagef("no driver Pod: pass --pod or set POD_NAME from the downward API")
			}
			if err := hook.ValidateObjectName("driver Pod name", o.Pod); err != nil {
				return err
			}
			if g.namespace == "" {
				// The downward API's namespace, as the sidecar manifest sets it.
				g.namespace = os.Getenv("POD_NAMESPACE")
			}
			clients, ns, err := g.clients()
			if err != nil {
				return err
			}
			o.Namespace = ns
			if err := g.preflight(c, hook.CommandWatch, clients, o.Namespace, output); err != nil {
				return err
			}
			res, err := hook.Watch(c.Context, clients, g.log, o)
			if werr := writeResult(c.App.Writer, output, res); werr != nil && err == nil {
				err = werr
			}
			return err
		},
	}
}
