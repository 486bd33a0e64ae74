package rule

import (
	"regexp"
	"strings"
)

// MapKind is what Spark (or the Spark Operator) made a ConfigMap for, read
// from its generated name.
type MapKind string

// The kinds of map, each with the name Spark gives it.
const (
	KindDriverConf   MapKind = "driver-conf"        // spark-drv-<hex>-conf-map; before Spark 3.1 <prefix>-driver-conf-map; Apache operator <app id>-spark-drv-conf-map
	KindExecutorConf MapKind = "executor-conf"      // spark-exec-<hex>-conf-map
	KindPodTemplate  MapKind = "pod-template"       // <prefix>-driver-podspec-conf-map
	KindHadoopConf   MapKind = "hadoop-conf"        // <prefix>-hadoop-config
	KindKrb5         MapKind = "krb5"               // <prefix>-krb5-file
	KindOperatorProm MapKind = "operator-prom-conf" // <app>-prom-conf, made by the Spark Operator
	KindNotGenerated MapKind = "unknown"            // no name Spark generates
)

// Spark's label keys (resource-managers/kubernetes Constants.scala) and the
// annotation that keeps a map whatever else holds.
const (
	LabelAppSelector = "spark-app-selector"
	LabelRole        = "spark-role"
	RoleDriver       = "driver"
	RoleExecutor     = "executor"
	LabelOperatorApp = "sparkoperator.k8s.io/app-name"
	AnnotationKeep   = "sparkcm-hook/keep"
	// AnnotationLastActive is when executors of the map's client-mode
	// application were last seen running (RFC 3339), stamped by the
	// controller and by sweep: Spark deletes finished executor Pods, so a
	// session idling at zero executors otherwise shows nothing of the hour
	// it last ran. It can only delay a deletion, never allow one.
	AnnotationLastActive = "sparkcm-hook/last-active"
)

var (
	driverConfName   = regexp.MustCompile(`^spark-drv-[0-9a-f]+-conf-map$`)
	executorConfName = regexp.MustCompile(`^spark-exec-[0-9a-f]+-conf-map$`)
)

// KindOf names the Spark-generated kind that a ConfigMap name has, or
// KindNotGenerated. A name alone is never evidence enough to delete: it only
// narrows what ownership or the application's label has to confirm.
func KindOf(name string) MapKind {
	switch {
	case driverConfName.MatchString(name):
		return KindDriverConf
	case executorConfName.MatchString(name):
		return KindExecutorConf
	case hasPrefixedSuffix(name, "-driver-podspec-conf-map"):
		return KindPodTemplate
	case hasPrefixedSuffix(name, "-spark-drv-conf-map"):
		// The Apache Spark Kubernetes Operator's name for the driver map:
		// <app id>-spark-drv-conf-map (SparkAppDriverConf).
		return KindDriverConf
	case hasPrefixedSuffix(name, "-driver-conf-map"):
		return KindDriverConf
	case hasPrefixedSuffix(name, "-hadoop-config"):
		return KindHadoopConf
	case hasPrefixedSuffix(name, "-krb5-file"):
		return KindKrb5
	case hasPrefixedSuffix(name, "-prom-conf"):
		return KindOperatorProm
	}
	return KindNotGenerated
}

// hasPrefixedSuffix reports a name that is a non-empty prefix plus suffix.
func hasPrefixedSuffix(name, suffix string) bool {
	return len(name) > len(suffix) && strings.HasSuffix(name, suffix)
}

// DefaultDriverContainer is the name Spark gives the driver's container.
const DefaultDriverContainer = "spark-kubernetes-driver"
