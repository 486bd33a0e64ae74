// Package apachefixture stands in for the Apache Spark Kubernetes Operator
// (apache/spark-kubernetes-operator, release 1.0.0, group spark.apache.org)
// on a test control plane. Its jar is not on Maven Central and its image is
// not reachable from the test machines, so the tests drive its documented
// state machine themselves, and make the objects it makes with the shapes it
// gives them (read from its source at tag 1.0.0):
//
//   - the application id is <name>-<attempt id> (SparkAppSubmissionWorker
//     generateSparkAppId; hashed when longer than 46 characters, see AppID);
//   - the driver Pod <appId>-driver, owned by the SparkApplication
//     (blockOwnerDeletion, controller unset: ModelUtils buildOwnerReferenceTo),
//     labelled spark.operator/name, spark.operator/spark-app-name,
//     spark-app-selector=<appId> and spark-role=driver (Utils driverLabels,
//     Spark's KubernetesDriverConf labels);
//   - the Service <appId>-driver-svc and the maps <appId>-spark-drv-conf-map
//     (SparkAppDriverConf configMapNameDriver), <appId>-driver-podspec-conf-map,
//     <appId>-hadoop-config and <appId>-krb5-file (Spark's own feature steps
//     under the operator's resource name prefix), all owned by the driver Pod
//     without controller and carrying the driver Pod's labels
//     (DriverResourceDecorator);
//   - the state in .status.currentState.currentStateSummary with
//     lastTransitionTime, the attempt in
//     .status.currentAttemptSummary.attemptInfo.id
//     (ApplicationStatus, ApplicationStateSummary).
//
// The package does not import the hook package: it states the operator's
// behaviour, which the tool's rule is then tested against.
package apachefixture

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// Resource is the operator's SparkApplication resource in its storage
// version; V1beta1 is the other version it serves.
var (
	Resource = schema.GroupVersionResource{Group: "spark.apache.org", Version: "v1", Resource: "sparkapplications"}
	V1beta1  = schema.GroupVersionResource{Group: "spark.apache.org", Version: "v1beta1", Resource: "sparkapplications"}
)

// The operator's labels (Constants.java) and the operator name it writes
// by default.
const (
	LabelOperatorName = "spark.operator/name"
	LabelAppName      = "spark.operator/spark-app-name"
	LabelAppSelector  = "spark-app-selector"
	LabelRole         = "spark-role"
	LabelSparkVersion = "spark-version"
	OperatorName      = "spark-kubernetes-operator"
	driverContainer   = "spark-kubernetes-driver"
)

// The application states (ApplicationStateSummary). Only ResourceReleased
// and TerminatedWithoutReleaseResources are terminal.
const (
	Submitted                          = "Submitted"
	ScheduledToRestart                 = "ScheduledToRestart"
	DriverRequested                    = "DriverRequested"
	DriverStarted                      = "DriverStarted"
	DriverReady                        = "DriverReady"
	InitializedBelowThresholdExecutors = "InitializedBelowThresholdExecutors"
	RunningHealthy                     = "RunningHealthy"
	RunningWithPartialCapacity         = "RunningWithPartialCapacity"
	RunningWithBelowThresholdExecutors = "RunningWithBelowThresholdExecutors"
	DriverStartTimedOut                = "DriverStartTimedOut"
	ExecutorsStartTimedOut             = "ExecutorsStartTimedOut"
	DriverReadyTimedOut                = "DriverReadyTimedOut"
	Succeeded                          = "Succeeded"
	Failed                             = "Failed"
	SchedulingFailure                  = "SchedulingFailure"
	DriverEvicted                      = "DriverEvicted"
	ResourceReleased                   = "ResourceReleased"
	TerminatedWithoutReleaseResources  = "TerminatedWithoutReleaseResources"
)

// NonTerminal lists every state but the two terminal ones, in the order of
// the operator's enum.
var NonTerminal = []string{Submitted, ScheduledToRestart, DriverRequested, DriverStarted, DriverReady,
	InitializedBelowThresholdExecutors, RunningHealthy, RunningWithPartialCapacity, RunningWithBelowThresholdExecutors,
	DriverStartTimedOut, ExecutorsStartTimedOut, DriverReadyTimedOut, Succeeded, Failed, SchedulingFailure, DriverEvicted}

// AppID is the operator's application id for an attempt: <name>-<attempt>,
// or, when that is longer than 46 characters, its first 9 characters, a
// dash and the first 36 base-36 digits of the SHA-256 of
// "<namespace>/<name>/<attempt>" (the rule's, which the test bed checks
// against the operator's Java).
func AppID(ns, name string, attempt int64) string { return rule.ApacheAppID(ns, name, attempt) }

// Spec describes one application.
type Spec struct {
	Name string
	// RetainPolicy is spec.applicationTolerations.resourceRetainPolicy
	// (Always, OnFailure, Never; "" leaves it unset: Never).
	RetainPolicy string
	// RetainDurationMillis and TTLAfterStopMillis, when not nil, are set.
	RetainDurationMillis *int64
	TTLAfterStopMillis   *int64
	// ConfigMapSpecs are user maps in spec.configMapSpecs (the operator
	// makes them before the driver, owned by the application).
	ConfigMapSpecs []string
	// Hadoop and Krb5 make the <appId>-hadoop-config and <appId>-krb5-file
	// maps Spark's feature steps make for HADOOP_CONF_DIR and a krb5.conf.
	Hadoop, Krb5 bool
	// Version creates the application in this GroupVersionResource's
	// version (default v1).
	Version schema.GroupVersionResource
}

// Attempt is what one attempt of an application made.
type Attempt struct {
	Namespace string
	AppName   string
	AppUID    string
	ID        int64
	AppID     string
	Driver    *corev1.Pod
	Service   string
	Maps      []string // the maps the driver Pod owns
	// SparkAppID is the id spark-submit gave the objects it built, when
	// real Spark made them (Operator.Spark), before they took the
	// operator's names.
	SparkAppID string
}

// Operator drives applications on one control plane.
type Operator struct {
	Kube kubernetes.Interface
	Dyn  dynamic.Interface
	// Spark, when set, makes the driver Pod's spec and the maps' data with
	// the real spark-submit of that install (see launchWithSpark), at Host
	// with Token; otherwise the stand-in writes them itself.
	Spark *sparksubmit.Install
	Host  string
	Token string
}

// Create makes the SparkApplication, with no status yet.
func (op Operator) Create(ctx context.Context, ns string, spec Spec) (*unstructured.Unstructured, error) {
	gvr := spec.Version
	if gvr.Resource == "" {
		gvr = Resource
	}
	tol := map[string]any{}
	if spec.RetainPolicy != "" {
		tol["resourceRetainPolicy"] = spec.RetainPolicy
	}
	if spec.RetainDurationMillis != nil {
		tol["resourceRetainDurationMillis"] = *spec.RetainDurationMillis
	}
	if spec.TTLAfterStopMillis != nil {
		tol["ttlAfterStopMillis"] = *spec.TTLAfterStopMillis
	}
	s := map[string]any{
		"mainClass":       "org.apache.spark.examples.SparkPi",
		"jars":            "local:///opt/spark/examples/jars/spark-examples.jar",
		"runtimeVersions": map[string]any{"sparkVersion": "4.0.1"},
		"sparkConf":       map[string]any{"spark.kubernetes.container.image": "apache/spark:{{SPARK_VERSION}}"},
	}
	if len(tol) > 0 {
		s["applicationTolerations"] = tol
	}
	if len(spec.ConfigMapSpecs) > 0 {
		var list []any
		for _, n := range spec.ConfigMapSpecs {
			list = append(list, map[string]any{"name": n, "data": map[string]any{"k": "v"}})
		}
		s["configMapSpecs"] = list
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": "SparkApplication",
		"metadata": map[string]any{"name": spec.Name, "namespace": ns},
		"spec":     s,
	}}
	out, err := op.Dyn.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create spark.apache.org SparkApplication %s/%s: %w", ns, spec.Name, err)
	}
	return out, nil
}

// Launch does what the operator does for an attempt: it records the attempt
// and state DriverRequested, then makes the driver Pod, its Service and its
// maps. The user maps of spec.configMapSpecs come first, owned by the
// application, as the operator's pre-resources.
func (op Operator) Launch(ctx context.Context, ns, name string, attempt int64, spec Spec) (*Attempt, error) {
	app, err := op.Dyn.Resource(Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	a := &Attempt{Namespace: ns, AppName: name, AppUID: string(app.GetUID()), ID: attempt, AppID: AppID(ns, name, attempt)}
	if err := op.SetState(ctx, ns, name, attempt, DriverRequested); err != nil {
		return nil, err
	}
	appOwner := metav1.OwnerReference{APIVersion: app.GetAPIVersion(), Kind: "SparkApplication", Name: name, UID: app.GetUID(), BlockOwnerDeletion: ptr.To(true)}
	labels := map[string]string{
		LabelOperatorName: OperatorName, LabelAppName: name, LabelAppSelector: a.AppID, LabelRole: "driver", LabelSparkVersion: "4.0.1",
	}
	for _, n := range spec.ConfigMapSpecs {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{LabelAppName: name},
			OwnerReferences: []metav1.OwnerReference{appOwner}}, Data: map[string]string{"k": "v"}}
		if _, err := op.Kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create user map %s: %w", n, err)
		}
	}
	if op.Spark != nil {
		return op.launchWithSpark(ctx, a, spec, appOwner, labels)
	}
	confMap, podspecMap := a.AppID+"-spark-drv-conf-map", a.AppID+"-driver-podspec-conf-map"
	mounts := map[string]string{confMap: "/opt/spark/conf", podspecMap: "/opt/spark/pod-template"}
	extra := map[string]map[string]string{}
	if spec.Hadoop {
		extra[a.AppID+"-hadoop-config"] = map[string]string{"core-site.xml": "<configuration/>"}
		mounts[a.AppID+"-hadoop-config"] = "/opt/hadoop/conf"
	}
	if spec.Krb5 {
		extra[a.AppID+"-krb5-file"] = map[string]string{"krb5.conf": "[libdefaults]\n"}
		mounts[a.AppID+"-krb5-file"] = "/etc/krb5.conf"
	}
	podSpec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: driverContainer, Image: "apache/spark:4.0.1", Args: []string{"driver"}}}}
	for m, path := range mounts {
		podSpec.Volumes = append(podSpec.Volumes, corev1.Volume{Name: volName(m), VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: m}}}})
		podSpec.Containers[0].VolumeMounts = append(podSpec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: volName(m), MountPath: path})
	}
	maps := map[string]map[string]string{
		confMap:    {"spark.properties": "spark.app.id=" + a.AppID + "\nspark.app.name=" + name + "\n", "spark.kubernetes.namespace": ns},
		podspecMap: {"podspec-configmap-key": "apiVersion: v1\nkind: Pod\n"},
	}
	for k, v := range extra {
		maps[k] = v
	}
	return op.create(ctx, a, podSpec, maps, appOwner, labels)
}

// create makes the driver Pod, its maps and its Service as the operator
// does: the Pod owned by the application, the rest by the Pod, each
// carrying the Pod's labels, no reference a controller.
func (op Operator) create(ctx context.Context, a *Attempt, podSpec corev1.PodSpec, maps map[string]map[string]string,
	appOwner metav1.OwnerReference, labels map[string]string) (*Attempt, error) {
	ns := a.Namespace
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: a.AppID + "-driver", Labels: labels, OwnerReferences: []metav1.OwnerReference{appOwner}}, Spec: podSpec}
	var err error
	if a.Driver, err = op.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create driver pod: %w", err)
	}
	driverOwner := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: a.Driver.Name, UID: a.Driver.UID, BlockOwnerDeletion: ptr.To(true)}
	for n, data := range maps {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: labels, OwnerReferences: []metav1.OwnerReference{driverOwner}}, Data: data}
		if _, err := op.Kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create map %s: %w", n, err)
		}
		a.Maps = append(a.Maps, n)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: a.AppID + "-driver-svc", Labels: labels, OwnerReferences: []metav1.OwnerReference{driverOwner}},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{LabelAppSelector: a.AppID, LabelRole: "driver"},
			Ports: []corev1.ServicePort{{Name: "driver-rpc-port", Port: 7078}}},
	}
	if _, err := op.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create driver service: %w", err)
	}
	a.Service = svc.Name
	sort.Strings(a.Maps)
	return a, nil
}

// volName is a Pod volume name (a DNS label) for a map.
func volName(m string) string {
	sum := sha256.Sum256([]byte(m))
	return fmt.Sprintf("cm-%x", sum[:8])
}

// SetState moves the application to state for attempt through the status
// subresource, as the operator does: the current state with its
// lastTransitionTime, the attempt id, and the state appended to the
// attempt's history.
func (op Operator) SetState(ctx context.Context, ns, name string, attempt int64, state string) error {
	return op.SetStateAt(ctx, ns, name, attempt, state, time.Now())
}

// SetStateAt is SetState with the transition time given (a status the
// operator wrote long ago).
func (op Operator) SetStateAt(ctx context.Context, ns, name string, attempt int64, state string, at time.Time) error {
	client := op.Dyn.Resource(Resource).Namespace(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ts := at.UTC().Format(time.RFC3339Nano)
		cur := map[string]any{"currentStateSummary": state, "lastTransitionTime": ts, "message": "set by the test bed's stand-in operator"}
		_ = unstructured.SetNestedMap(u.Object, cur, "status", "currentState")
		_ = unstructured.SetNestedField(u.Object, attempt, "status", "currentAttemptSummary", "attemptInfo", "id")
		hist, _, _ := unstructured.NestedMap(u.Object, "status", "stateTransitionHistory")
		if hist == nil {
			hist = map[string]any{}
		}
		hist[strconv.Itoa(len(hist))] = map[string]any{"currentStateSummary": state, "lastTransitionTime": ts}
		_ = unstructured.SetNestedMap(u.Object, hist, "status", "stateTransitionHistory")
		_, err = client.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set spark.apache.org SparkApplication %s/%s state %s: %w", ns, name, state, err)
	}
	return nil
}

// Run moves the application through the states of a healthy start:
// DriverStarted, DriverReady, RunningHealthy.
func (op Operator) Run(ctx context.Context, ns, name string, attempt int64) error {
	for _, s := range []string{DriverStarted, DriverReady, RunningHealthy} {
		if err := op.SetState(ctx, ns, name, attempt, s); err != nil {
			return err
		}
	}
	return nil
}

// Stop ends an attempt the way the operator does. The driver Pod reaches
// phase (the kubelet's part) and the application Succeeded or Failed; then,
// with release, the operator deletes the driver Pod (the garbage collector
// removes what it owns) and rests in ResourceReleased; without it, in
// TerminatedWithoutReleaseResources with everything left in place.
func (op Operator) Stop(ctx context.Context, a *Attempt, phase corev1.PodPhase, release bool) error {
	if err := SetPodPhase(ctx, op.Kube, a.Namespace, a.Driver.Name, phase); err != nil {
		return err
	}
	end := Succeeded
	if phase != corev1.PodSucceeded {
		end = Failed
	}
	if err := op.SetState(ctx, a.Namespace, a.AppName, a.ID, end); err != nil {
		return err
	}
	if !release {
		return op.SetState(ctx, a.Namespace, a.AppName, a.ID, TerminatedWithoutReleaseResources)
	}
	err := op.Kube.CoreV1().Pods(a.Namespace).Delete(ctx, a.Driver.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &a.Driver.UID}, PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	if err != nil {
		return fmt.Errorf("delete driver pod %s: %w", a.Driver.Name, err)
	}
	return op.SetState(ctx, a.Namespace, a.AppName, a.ID, ResourceReleased)
}

// SetPodPhase moves a Pod to phase through the status subresource, with the
// container states the kubelet reports.
func SetPodPhase(ctx context.Context, kube kubernetes.Interface, ns, name string, phase corev1.PodPhase) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		pod.Status.Phase = phase
		pod.Status.ContainerStatuses = nil
		for _, c := range pod.Spec.Containers {
			cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
			switch phase {
			case corev1.PodRunning:
				cs.Ready, cs.Started = true, ptr.To(true)
				cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
			case corev1.PodSucceeded, corev1.PodFailed:
				code := int32(0)
				if phase == corev1.PodFailed {
					code = 1
				}
				cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: now, FinishedAt: now}
			}
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, cs)
		}
		_, err = kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set pod %s/%s phase %s: %w", ns, name, phase, err)
	}
	return nil
}
