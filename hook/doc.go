// Package hook deletes the ConfigMaps Spark on Kubernetes leaves behind, and
// only those. Its guarantees, for Cleanup, Sweep and Watch alike:
//
//   - A map is deleted only on positive evidence that Spark or the Spark
//     Operator generated it for the application: owned by that application's
//     driver Pod (and named as Spark names its driver, executor, pod-template,
//     Hadoop or krb5 maps), owned by its SparkApplication (<app>-prom-conf),
//     both matched by UID wherever the UID is known, or, with no owner at all
//     (client mode, Spark 3.1.0/3.1.1), an executor map named
//     spark-exec-<hex>-conf-map and labelled spark-app-selector=<its id>.
//   - Never while the application is live (driver Pod not Succeeded/Failed,
//     SparkApplication not COMPLETED/FAILED/SUBMISSION_FAILED (that last
//     with no submission retry left), any Pod of its
//     id not terminated, a new object of the same name not finished); never a
//     map a Pod that is not Succeeded/Failed uses through any reference
//     (volume, projected volume, env, envFrom; containers, init and ephemeral
//     containers); never a user-supplied map, one annotated
//     sparkcm-hook/keep: "true", one with any other owner, or one labelled for
//     another application; never a map of a SparkApplication while its CRD
//     serves no version the tool reads (a 404 that names no object is not
//     "gone").
//   - Sweep: never a map younger than OlderThan, or of an application that
//     ended less than OlderThan ago, on the API server's clock; never an
//     ownerless map before it and its application's Pods were quiet for
//     OrphanOlderThan; never a map written after the owners were read.
//   - Report deletes nothing: it runs Sweep in dry run with the same reads
//     and counts what Sweep decided, so its "would delete" and "kept" are
//     Sweep's own judgement, never a second one.
//   - Every delete carries UID and resourceVersion preconditions: what is
//     deleted is exactly what was judged; a map replaced or changed since is
//     reported as skipped, never deleted. NotFound counts as deleted.
//   - No delete is sent more than DefaultRecheckBound after the last read of
//     the Pods that use the map and of its SparkApplication (by UID): the
//     preconditions cover only the map. A delete that waited longer (the
//     throttle, a Retry-After, a backoff) reads them again first.
//   - Only transient failures are retried (429 honouring Retry-After, 5xx,
//     server timeouts, broken or refused connections, and a 403 or 401 from
//     an API server that is not ready yet), each request inside its own
//     bounded budget; an answer that is not a Kubernetes Status is never
//     read as the API server's verdict. Under throttling the requests in
//     flight shrink to what the server admits (Throttle), and the Result
//     counts the retries.
//
// The package takes its clients and a *slog.Logger, never exits the process
// and never reads flags or the environment. Its errors are typed
// (*UsageError, *ForbiddenError, *StillRunningError, *PartialFailureError) so
// that the command line can tell them apart with errors.As.
package hook
