package sparkfixture

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SparkApplicationResource is the Kubeflow Spark Operator's CRD resource.
var SparkApplicationResource = schema.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"}

// Label keys Spark (Constants.scala) and the Spark Operator put on pods. They
// are spelled out here, not taken from the hook package, so the fixtures stay
// an independent witness of what Spark does.
const (
	LabelAppID              = "spark-app-selector"
	LabelRole               = "spark-role"
	LabelAppName            = "spark-app-name"
	LabelVersion            = "spark-version"
	LabelExecID             = "spark-exec-id"
	LabelResourceProfileID  = "spark-exec-resourceprofile-id"
	LabelOperatorAppName    = "sparkoperator.k8s.io/app-name"
	LabelLaunchedByOperator = "sparkoperator.k8s.io/launched-by-spark-operator"
	LabelSubmissionID       = "sparkoperator.k8s.io/submission-id"

	RoleDriver   = "driver"
	RoleExecutor = "executor"
)

// Volume names under which the driver and executor pods mount the maps.
const (
	VolumeDriverConf     = "spark-conf-volume-driver" // driver conf map
	VolumeExecutorConf   = "spark-conf-volume-exec"   // executor conf map
	VolumePodTemplate    = "pod-template-volume"      // <prefix>-driver-podspec-conf-map
	VolumeHadoopConf     = "hadoop-properties"        // <prefix>-hadoop-config
	VolumeKrb5           = "krb5-file"                // <prefix>-krb5-file
	VolumeUserSparkConf  = "spark-configmap-volume"   // spec.sparkConfigMap (operator)
	VolumeUserHadoopConf = "hadoop-configmap-volume"  // spec.hadoopConfigMap (operator)
	volumeLocalDir       = "spark-local-dir-1"
)

// Application states of status.applicationState.state.
const (
	StateNew              = ""
	StateSubmitted        = "SUBMITTED"
	StateRunning          = "RUNNING"
	StateCompleted        = "COMPLETED"
	StateFailed           = "FAILED"
	StateSubmissionFailed = "SUBMISSION_FAILED"
	StatePendingRerun     = "PENDING_RERUN"
	StateInvalidating     = "INVALIDATING"
	StateSucceeding       = "SUCCEEDING"
	StateFailing          = "FAILING"
	StateSuspending       = "SUSPENDING"
	StateSuspended        = "SUSPENDED"
	StateResuming         = "RESUMING"
	StateUnknown          = "UNKNOWN"
)

// IsTerminal reports whether the operator considers state final.
func IsTerminal(state string) bool {
	return state == StateCompleted || state == StateFailed || state == StateSubmissionFailed
}

// Names Spark gives the maps (KubernetesClientUtils.configMapName and the
// feature steps). prefix is the resource name prefix <app name>-<16 hex>.
func driverConfMapName() string               { return "spark-drv-" + randomHex(8) + "-conf-map" }
func executorConfMapName() string             { return "spark-exec-" + randomHex(8) + "-conf-map" }
func legacyDriverConfMapName(p string) string { return p + "-driver-conf-map" }
func podTemplateMapName(p string) string      { return p + "-driver-podspec-conf-map" }
func hadoopMapName(p string) string           { return p + "-hadoop-config" }
func krb5MapName(p string) string             { return p + "-krb5-file" }

// NewAppID returns a Spark application id as Spark generates it on Kubernetes:
// "spark-" and 32 hex characters.
func NewAppID() string { return "spark-" + randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomSuffix is Airflow's random_name_suffix: 8 characters of [a-z0-9].
func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
