package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// cleanupOptions are cleanup's flags: the common ones and the library's.
type cleanupOptions struct {
	deleting
	hook.CleanupOptions
}

// Validate checks every flag of cleanup without reading any configuration.
func (o *cleanupOptions) Validate() error {
	if err := o.validate("cleanup"); err != nil {
		return err
	}
	if o.Wait < 0 {
		return hook.Usagef("--wait must not be negative")
	}
	targets := []struct {
		flag, value string
		check       func(string) error
	}{
		{"--spark-app", o.SparkApp, func(v string) error { _, _, err := hook.ParseSparkAppTarget(v, o.Operator); return err }},
		{"--driver-pod", o.DriverPod, func(v string) error { return hook.ValidateObjectName("driver Pod name", v) }},
		{"--app-id", o.AppID, hook.ValidateAppID},
	}
	given := 0
	for _, t := range targets {
		if t.value == "" {
			continue
		}
		given++
		if err := t.check(t.value); err != nil {
			return err
		}
	}
	if given != 1 {
		return hook.Usagef("give exactly one of --spark-app, --driver-pod or --app-id")
	}
	_, _, err := hook.ParseSparkAppTarget("", o.Operator)
	return err
}

func (o *cleanupOptions) complete(_ *cli.Context, _ *globals) {
	o.take(&o.DryRun, &o.Concurrency, &o.Retry)
}

func (o *cleanupOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	if err := g.checkNamespace(ctx, clients, ns); err != nil {
		return err
	}
	o.Namespace = ns
	if err := g.preflight(ctx, &o.common, o.preflight, hook.CommandCleanup, clients, ns); err != nil {
		return err
	}
	return o.ledger(stdout, g.log, func() (*hook.Result, error) {
		res, err := hook.Cleanup(ctx, clients, g.log, o.CleanupOptions)
		if running := (*hook.StillRunningError)(nil); errors.As(err, &running) && o.Wait == 0 {
			err = fmt.Errorf("%w (use --wait to wait for it)", err)
		}
		return res, err
	})
}

func cleanupCommand(g *globals) *cli.Command {
	o := &cleanupOptions{}
	return &cli.Command{
		Name:      "cleanup",
		Usage:     "delete exactly one finished Spark application's ConfigMaps",
		UsageText: g.prog + " cleanup -n NAMESPACE (--spark-app NAME | --driver-pod NAME | --app-id SPARK_APP_ID) [--operator kubeflow|apache] [--dry-run] [-o " + formatNames("|") + "] [--timeout DURATION] [--wait DURATION]",
		Description: `Deletes the ConfigMaps Spark and the Spark Operator generated for one application, once it has
finished: maps labelled spark-app-selector=<id>, and maps owned by its driver Pod or SparkApplication
and named as Spark names them. Give any one target; the rest is resolved (SparkApplication ->
status.sparkApplicationId and driver Pod; driver Pod -> its spark-app-selector label and owner;
app id -> its driver Pod). --driver-pod works after the Pod and SparkApplication are deleted.

Never deleted: maps used by a Pod that is not Succeeded/Failed (volumes, projected volumes, env,
envFrom, in any container), user-supplied maps (spec.sparkConfigMap, spec.hadoopConfigMap,
spec.*.configMaps, spec.volumes), maps annotated sparkcm-hook/keep: "true", maps with another owner, and
anything while the application still runs (exit 4, unless --wait): its driver Pod or
SparkApplication has not finished, any Pod labelled with its application id has not terminated
(client mode), or a new driver Pod or SparkApplication of the same name has not finished. Each
delete carries UID and resourceVersion preconditions. Idempotent: a second run finds nothing more
to delete and exits 0.

--timeout bounds the whole run, waiting included; without it, the run ends at the latest after
--wait plus --retry-budget.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				&cli.StringFlag{Name: "spark-app", Usage: "SparkApplication name", EnvVars: env("spark-app"), Destination: &o.SparkApp},
				&cli.StringFlag{Name: "driver-pod", Usage: "driver Pod name (Airflow's XCom pod_name)", EnvVars: env("driver-pod"), Destination: &o.DriverPod},
				&cli.StringFlag{Name: "operator", Usage: "whose SparkApplication the target is: kubeflow (sparkoperator.k8s.io) or apache (spark.apache.org); needed only when both have one of that name", EnvVars: env("operator"), Destination: &o.Operator},
				&cli.StringFlag{Name: "app-id", Usage: "Spark application id (the spark-app-selector label)", EnvVars: env("app-id"), Destination: &o.AppID},
				&cli.DurationFlag{Name: "wait", Usage: "wait up to this long (by watching) for a running application to finish first", EnvVars: env("wait"), Destination: &o.Wait},
				noEventFlag(&o.NoEvent),
			},
			o.flags(hook.DefaultCleanupConcurrency),
		),
		Action: g.action(o),
	}
}
