// Package sparkfixture creates through the Kubernetes API what Spark 3.x/4.x
// and the Kubeflow Spark Operator leave in a namespace: a SparkApplication with
// its status, the driver pod it owns, the conf maps the driver pod owns (driver
// conf unlabelled, executor conf labelled spark-app-selector/spark-role),
// executor pods, and user-supplied maps that must never be deleted.
//
// Create(ctx, kube, dyn, ns, Spec) makes one application; the Spec fields pick
// the variants (legacy Spark, no operator, user maps, driver already deleted,
// still running). Bulk makes N leftover maps over N/5 finished applications for
// benchmarks. SetState and SetPodPhase move an application and its pods on
// through the status subresources, since no kubelet or operator runs.
//
// The package does not import the hook package: it states Spark's behaviour
// independently, so tests compare the tool against it rather than against
// itself.
package sparkfixture
