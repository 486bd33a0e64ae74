// Package hook deletes the ConfigMaps Spark on Kubernetes leaves behind, and
// only those. Its guarantees, for Cleanup, Sweep and Watch alike:
//
//   - A map is deleted only on positive evidence that Spark or the Spark
//     Operator generated it for the application: owned by that application's
//     driver Pod (and named as Spark names its driver, executor, pod-template,
//     Hadoop or krb5 maps), owned by its SparkApplication (<app>-prom-conf),
//     or, for Spark 3.1.0/3.1.1 which set no owner, an executor map named
//     spark-exec-<hex>-conf-map and labelled spark-app-selector=<its id>.
//   - Never while the application is live (driver Pod not Succeeded/Failed, or
//     SparkApplication not COMPLETED/FAILED/SUBMISSION_FAILED); never a map a
//     Pod that is not Succeeded/Failed uses through any reference (volume,
//     projected volume, env, envFrom; containers, init and ephemeral
//     containers); never a user-supplied map, one annotated
//     sparkcm-hook/keep: "true", one with any other owner, or one labelled for
//     another application.
//   - Every delete carries a UID precondition: a map recreated under the same
//     name is reported as skipped, never deleted. NotFound counts as deleted.
//   - Only transient failures are retried (429 honouring Retry-After, 5xx,
//     server timeouts, broken or refused connections), inside a bounded budget.
//
// The package takes its clients and a *slog.Logger, never exits the process
// and never reads flags or the environment; errors are classified for the
// command line by ExitCode.
package hook
