package main

import (
	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

func cleanupCommand(g *globals) *cli.Command {
	var o hook.CleanupOptions
	var output string
	return &cli.Command{
		Name:      "cleanup",
		Usage:     "delete exactly one finished Spark application's ConfigMaps",
		UsageText: "sparkcm-hook cleanup -n NAMESPACE (--spark-app NAME | --driver-pod NAME | --app-id SPARK_APP_ID) [--dry-run] [-o text|json|yaml] [--timeout 2m] [--wait DURATION]",
		Description: `Deletes the ConfigMaps Spark and the Spark Operator generated for one application, once it has
finished: maps labelled spark-app-selector=<id>, and maps owned by its driver Pod or SparkApplication
and named as Spark names them. Give any one target; the rest is resolved (SparkApplication ->
status.sparkApplicationId and driver Pod; driver Pod -> its spark-app-selector label and owner;
app id -> its driver Pod). --driver-pod works after the Pod and SparkApplication are deleted.

Never deleted: maps used by a Pod that is not Succeeded/Failed (volumes, projected volumes, env,
envFrom, in any container), user-supplied maps (spec.sparkConfigMap, spec.hadoopConfigMap,
spec.*.configMaps), maps annotated sparkcm-hook/keep: "true", maps with another owner, and
anything while the application still runs (exit 4, unless --wait): its driver Pod or
SparkApplication has not finished, any Pod labelled with its application id has not terminated
(client mode), or a new driver Pod or SparkApplication of the same name has not finished. Each
delete carries UID and resourceVersion preconditions. Idempotent: a second run finds nothing more
to delete and exits 0.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			preflightFlag(),
			&cli.StringFlag{Name: "spark-app", Usage: "SparkApplication name", EnvVars: []string{"SPARKCM_SPARK_APP"}, Destination: &o.SparkApp},
			&cli.StringFlag{Name: "driver-pod", Usage: "driver Pod name (Airflow's XCom pod_name)", EnvVars: []string{"SPARKCM_DRIVER_POD"}, Destination: &o.DriverPod},
			&cli.StringFlag{Name: "app-id", Usage: "Spark application id (the spark-app-selector label)", EnvVars: []string{"SPARKCM_APP_ID"}, Destination: &o.AppID},
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be deleted, delete nothing", EnvVars: []string{"SPARKCM_DRY_RUN"}, Destination: &o.DryRun},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "result format on stdout: text, json or yaml", EnvVars: []string{"SPARKCM_OUTPUT"}, Destination: &output},
			&cli.DurationFlag{Name: "timeout", Value: hook.DefaultRetryPolicy.Budget, Usage: "total budget for the cleanup, retries included", EnvVars: []string{"SPARKCM_TIMEOUT"}, Destination: &o.Retry.Budget},
			&cli.DurationFlag{Name: "wait", Usage: "wait up to this long (by watching) for a running application to finish first", EnvVars: []string{"SPARKCM_WAIT"}, Destination: &o.Wait},
			&cli.IntFlag{Name: "concurrency", Value: 8, Usage: "deletes in flight at once", EnvVars: []string{"SPARKCM_CONCURRENCY"}, Destination: &o.Concurrency},
			&cli.BoolFlag{Name: "no-event", Usage: "do not record a summary Event", EnvVars: []string{"SPARKCM_NO_EVENT"}, Destination: &o.NoEvent},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return hook.Usagef("cleanup takes no arguments, got %q", c.Args().First())
			}
			if err := checkOutput(output, "text", "json", "yaml"); err != nil {
				return err
			}
			if o.Retry.Budget <= 0 || o.Wait < 0 || o.Concurrency < 1 {
				return hook.Usagef("--timeout must be positive, --wait not negative, --concurrency at least 1")
			}
			// Validate the target before reading any configuration, so that
			// bad input fails the same way with or without a cluster.
			probe := o
			probe.Namespace = "default"
			if err := hook.ValidateCleanupTarget(probe); err != nil {
				return err
			}
			clients, ns, err := g.clients()
			if err != nil {
				return err
			}
			o.Namespace = ns
			if err := g.checkNamespace(c.Context, clients, ns); err != nil {
				return err
			}
			if err := g.preflight(c, hook.CommandCleanup, clients, o.Namespace, output); err != nil {
				return err
			}
			res, err := hook.Cleanup(c.Context, clients, g.log, o)
			if werr := writeResult(c.App.Writer, output, res); werr != nil && err == nil {
				err = werr
			}
			return err
		},
	}
}
