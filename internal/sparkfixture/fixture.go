package sparkfixture

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Spec describes one Spark application run. The zero value is a completed
// SparkApplication (Spark 3.5) whose driver pod Succeeded and left a driver and
// an executor conf map behind.
type Spec struct {
	// Name is the SparkApplication name (spark.app.name without the operator).
	// Empty: "spark-pi-" and 8 random [a-z0-9], as Airflow names it.
	Name string
	// State is status.applicationState.state (default COMPLETED).
	State string
	// DriverPhase defaults from State: COMPLETED -> Succeeded, FAILED ->
	// Failed, RUNNING -> Running, anything else -> Pending.
	DriverPhase corev1.PodPhase
	// SparkVersion is the spark-version label and spec.sparkVersion; default
	// 3.5.5, or 3.0.3 with Pre31, 3.1.1 with LegacyExecutorOwner.
	SparkVersion string

	// NoSparkApplication: plain spark-submit, no operator. No SparkApplication,
	// no operator labels, the driver pod has no owner and is named
	// <prefix>-driver.
	NoSparkApplication bool
	// Pre31: Spark before 3.1 named the driver map <prefix>-driver-conf-map
	// and created no executor map.
	Pre31 bool
	// LegacyExecutorOwner: Spark 3.1.0/3.1.1 (before SPARK-34948) gave the
	// executor map no ownerReference.
	LegacyExecutorOwner bool
	// NoExecutorMap: spark.kubernetes.executor.disableConfigMap=true.
	NoExecutorMap bool
	// PodTemplate, Hadoop, Krb5 add the generated pod-template, Hadoop and
	// krb5 maps, owned by the driver pod and mounted in its volumes (Hadoop and
	// krb5 in the executors' too).
	PodTemplate, Hadoop, Krb5 bool

	// UserSparkConfigMap, UserHadoopConfigMap name user-supplied maps: created
	// if missing (no ownerReference, no labels), set in spec.sparkConfigMap /
	// spec.hadoopConfigMap, mounted by driver and executors.
	UserSparkConfigMap, UserHadoopConfigMap string

	// Executors executor pods <prefix>-exec-<n>, owned by the driver pod, in
	// ExecutorPhase (default: the driver's phase).
	Executors     int
	ExecutorPhase corev1.PodPhase

	// DriverDeleted leaves what `kubectl delete pod --cascade=orphan` leaves
	// once the garbage collector has processed it: the driver pod is gone, its
	// maps and executor pods remain without the ownerReference to it.
	DriverDeleted bool

	// DataBytes pads each generated map's data (keys and values) up to this
	// many bytes; a map whose real content is larger is left as is (the
	// driver conf map holds about 1.3 KiB).
	DataBytes int
	// Labels are extra labels on the SparkApplication.
	Labels map[string]string

	// NodeImage, when set, runs the driver and executor Pods on a real node
	// (kubecluster Options.Node) with this image (kubecluster.StubImage) instead of
	// patching their status: each container runs for DriverRun and exits 0
	// (Succeeded) or 1 (Failed); a Running Pod's container runs until the Pod
	// is deleted unless DriverRun is set; a Pending Pod asks for a node that
	// does not exist. Create returns once every Pod is in its phase, as the
	// kubelet reported it. Ports and large resource requests are left out:
	// every Pod shares the node's network and two CPUs.
	NodeImage string
	// DriverRun is how long a node Pod's containers run (default 1s for
	// Succeeded and Failed Pods).
	DriverRun time.Duration
	// DriverExit is the exit code of a node Pod that is Running when Create
	// returns and ends after DriverRun (default 0: it Succeeds).
	DriverExit int
	// DriverShutdown is how long the node driver goes on after SIGTERM before
	// it exits 143, as a JVM runs its shutdown hooks.
	DriverShutdown time.Duration
	// DriverSidecars are extra containers in the driver Pod (a
	// SparkApplication's spec.driver.sidecars); DriverInitContainers its init
	// containers (a native sidecar has restartPolicy Always).
	DriverSidecars, DriverInitContainers []corev1.Container
}

// App is what Create made.
type App struct {
	Namespace string
	// Name is the SparkApplication name (the app name without the operator).
	Name         string
	AppID        string // spark-<32 hex>: spark-app-selector, status.sparkApplicationId
	SubmissionID string // sparkoperator.k8s.io/submission-id, status.submissionID
	// ResourcePrefix is Spark's resource name prefix <name>-<16 hex>.
	ResourcePrefix string
	DriverPod      string
	DriverUID      types.UID
	SparkAppUID    types.UID // empty with NoSparkApplication

	// Maps are the generated maps as they are on the server, in the order
	// driver conf, executor conf, pod template, Hadoop, krb5 (absent ones left
	// out). User-supplied maps are not among them.
	Maps            []*corev1.ConfigMap
	DriverConfMap   string
	ExecutorConfMap string // empty when none was made
	UserMaps        []string
	ExecutorPods    []string
}

// MapNames returns the names of the generated maps.
func (a *App) MapNames() []string {
	names := make([]string, len(a.Maps))
	for i, m := range a.Maps {
		names[i] = m.Name
	}
	return names
}

const (
	sparkImage = "docker.io/library/spark:3.5.5"
	mainClass  = "org.apache.spark.examples.SparkPi"
	mainJar    = "local:///opt/spark/examples/jars/spark-examples.jar"
	confDir    = "/opt/spark/conf"
)

func (s *Spec) defaults() {
	if s.Name == "" {
		s.Name = "spark-pi-" + randomSuffix()
	}
	if s.State == "" {
		s.State = StateCompleted
	}
	if s.DriverPhase == "" {
		s.DriverPhase = phaseFor(s.State)
	}
	if s.ExecutorPhase == "" {
		s.ExecutorPhase = s.DriverPhase
	}
	if s.SparkVersion == "" {
		switch {
		case s.Pre31:
			s.SparkVersion = "3.0.3"
		case s.LegacyExecutorOwner:
			s.SparkVersion = "3.1.1"
		default:
			s.SparkVersion = "3.5.5"
		}
	}
}

func phaseFor(state string) corev1.PodPhase {
	switch state {
	case StateCompleted:
		return corev1.PodSucceeded
	case StateFailed:
		return corev1.PodFailed
	case StateRunning:
		return corev1.PodRunning
	default:
		return corev1.PodPending
	}
}

// Create makes one application's objects in ns in the order Spark and the
// operator do: SparkApplication, user maps, driver pod (Pending), the maps
// it owns, executor pods; then moves pods and the SparkApplication to their
// phase and state through the status subresources (there is no kubelet).
// kube and dyn must be allowed to create all of it (an admin client).
func Create(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns string, spec Spec) (*App, error) {
	spec.defaults()
	app := newApp(ns, spec)
	// Map names are decided first: the driver pod mounts them, and they are
	// created after it because they are owned by it.
	plan := planMaps(app, spec)

	var owner *metav1.OwnerReference
	var sa *unstructured.Unstructured
	if !spec.NoSparkApplication {
		var err error
		if sa, err = createSparkApplication(ctx, dyn, ns, app, spec); err != nil {
			return nil, err
		}
		app.SparkAppUID = sa.GetUID()
		owner = &metav1.OwnerReference{
			APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication",
			Name: sa.GetName(), UID: sa.GetUID(),
			Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
		}
	}
	if err := createUserMaps(ctx, kube, app, spec); err != nil {
		return nil, err
	}
	driver, err := kube.CoreV1().Pods(ns).Create(ctx, driverPod(app, spec, owner), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create driver pod %s/%s: %w", ns, app.DriverPod, err)
	}
	app.DriverUID = driver.UID
	driverRef := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: driver.Name, UID: driver.UID, Controller: ptr.To(true)}
	if err := createMaps(ctx, kube, app, plan, driverRef); err != nil {
		return nil, err
	}
	executors, err := createExecutors(ctx, kube, app, spec, driverRef)
	if err != nil {
		return nil, err
	}
	if err := settle(ctx, kube, dyn, app, spec, driver, executors, sa); err != nil {
		return nil, err
	}
	return app, nil
}

// newApp names one application's objects: its id, the resource prefix
// spark-submit makes, and the driver Pod (the operator's name, or
// spark-submit's).
func newApp(ns string, spec Spec) *App {
	app := &App{
		Namespace:      ns,
		Name:           spec.Name,
		AppID:          NewAppID(),
		ResourcePrefix: spec.Name + "-" + randomHex(8),
	}
	if !spec.NoSparkApplication {
		app.SubmissionID = newUUID()
		app.DriverPod = spec.Name + "-driver"
	} else {
		app.DriverPod = app.ResourcePrefix + "-driver"
	}
	return app
}

// planMaps decides the maps Spark generates for the application, with
// their names (set on app) and data.
func planMaps(app *App, spec Spec) []plannedMap {
	var plan []plannedMap
	if spec.Pre31 {
		app.DriverConfMap = legacyDriverConfMapName(app.ResourcePrefix)
	} else {
		app.DriverConfMap = driverConfMapName()
	}
	plan = append(plan, plannedMap{name: app.DriverConfMap, data: driverConfData(app, spec)})
	if !spec.Pre31 && !spec.NoExecutorMap {
		app.ExecutorConfMap = executorConfMapName()
		plan = append(plan, plannedMap{
			name:    app.ExecutorConfMap,
			data:    executorConfData(app),
			labels:  map[string]string{LabelAppID: app.AppID, LabelRole: RoleExecutor},
			noOwner: spec.LegacyExecutorOwner,
		})
	}
	if spec.PodTemplate {
		plan = append(plan, plannedMap{name: podTemplateMapName(app.ResourcePrefix), data: map[string]string{"podspec-configmap-key": executorPodTemplate}})
	}
	if spec.Hadoop {
		plan = append(plan, plannedMap{name: hadoopMapName(app.ResourcePrefix), data: map[string]string{"core-site.xml": coreSiteXML, "hdfs-site.xml": hdfsSiteXML}})
	}
	if spec.Krb5 {
		plan = append(plan, plannedMap{name: krb5MapName(app.ResourcePrefix), data: map[string]string{"krb5.conf": krb5Conf}})
	}
	for i := range plan {
		plan[i].data = pad(plan[i].data, spec.DataBytes)
	}
	return plan
}

// createUserMaps makes the maps the user supplies (spec.sparkConfigMap,
// spec.hadoopConfigMap); several applications may share one.
func createUserMaps(ctx context.Context, kube kubernetes.Interface, app *App, spec Spec) error {
	for _, um := range []struct{ name, key, data string }{
		{spec.UserSparkConfigMap, "spark-defaults.conf", userSparkDefaults},
		{spec.UserHadoopConfigMap, "core-site.xml", coreSiteXML},
	} {
		if um.name == "" {
			continue
		}
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: um.name}, Data: map[string]string{um.key: um.data}}
		if _, err := kube.CoreV1().ConfigMaps(app.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create user configmap %s/%s: %w", app.Namespace, um.name, err)
		}
		app.UserMaps = append(app.UserMaps, um.name)
	}
	return nil
}

// createMaps makes the planned maps, owned by the driver Pod unless the
// plan says otherwise, and immutable as Spark makes every map it generates.
func createMaps(ctx context.Context, kube kubernetes.Interface, app *App, plan []plannedMap, driverRef metav1.OwnerReference) error {
	for _, p := range plan {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: p.labels},
			Data:       p.data,
			Immutable:  ptr.To(true),
		}
		if !p.noOwner {
			cm.OwnerReferences = []metav1.OwnerReference{driverRef}
		}
		created, err := kube.CoreV1().ConfigMaps(app.Namespace).Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create configmap %s/%s: %w", app.Namespace, p.name, err)
		}
		app.Maps = append(app.Maps, created)
	}
	return nil
}

// createExecutors makes the executor Pods, owned by the driver Pod.
func createExecutors(ctx context.Context, kube kubernetes.Interface, app *App, spec Spec, driverRef metav1.OwnerReference) ([]*corev1.Pod, error) {
	var executors []*corev1.Pod
	for i := 1; i <= spec.Executors; i++ {
		pod, err := kube.CoreV1().Pods(app.Namespace).Create(ctx, executorPod(app, spec, i, driverRef), metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create executor pod %s/%s-exec-%d: %w", app.Namespace, app.ResourcePrefix, i, err)
		}
		app.ExecutorPods = append(app.ExecutorPods, pod.Name)
		executors = append(executors, pod)
	}
	return executors, nil
}

// settle moves the Pods to their phases (waiting for the kubelet on a real
// node, else through the status subresource), records the
// SparkApplication's state as the operator would, and deletes the driver
// Pod if the spec says it is gone.
func settle(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, app *App, spec Spec, driver *corev1.Pod, executors []*corev1.Pod, sa *unstructured.Unstructured) error {
	ns := app.Namespace
	if spec.NodeImage != "" {
		// The kubelet moves the Pods; the operator records the state after.
		for _, name := range append([]string{app.DriverPod}, app.ExecutorPods...) {
			phase := spec.ExecutorPhase
			if name == app.DriverPod {
				phase = spec.DriverPhase
			}
			if err := WaitForPodPhase(ctx, kube, ns, name, phase); err != nil {
				return err
			}
		}
	}
	// The objects just created are passed on so that the status updates need
	// no extra read: that halves Bulk's requests per application.
	if spec.DriverPhase != corev1.PodPending && spec.NodeImage == "" {
		if err := setPodPhase(ctx, kube, ns, app.DriverPod, driver, spec.DriverPhase); err != nil {
			return err
		}
	}
	if spec.ExecutorPhase != corev1.PodPending && spec.NodeImage == "" {
		for _, pod := range executors {
			if err := setPodPhase(ctx, kube, ns, pod.Name, pod, spec.ExecutorPhase); err != nil {
				return err
			}
		}
	}
	if sa != nil {
		if err := setInitialStatus(ctx, dyn, app, spec, sa); err != nil {
			return err
		}
	}
	if spec.DriverDeleted {
		return deleteDriverOrphaningDependents(ctx, kube, app)
	}
	return nil
}

type plannedMap struct {
	name    string
	data    map[string]string
	labels  map[string]string
	noOwner bool
}

func createSparkApplication(ctx context.Context, dyn dynamic.Interface, ns string, app *App, spec Spec) (*unstructured.Unstructured, error) {
	sparkSpec := map[string]any{
		"type":                "Scala",
		"mode":                "cluster",
		"image":               sparkImage,
		"imagePullPolicy":     "IfNotPresent",
		"mainClass":           mainClass,
		"mainApplicationFile": mainJar,
		"arguments":           []any{"1000"},
		"sparkVersion":        spec.SparkVersion,
		"restartPolicy":       map[string]any{"type": "Never"},
		"driver": map[string]any{
			"cores":          int64(1),
			"memory":         "512m",
			"serviceAccount": "default",
		},
		"executor": map[string]any{
			"cores": int64(1),
			// The CRD requires at least 1; a finished application's
			// executor pods are usually gone (Spark deletes them), hence
			// Executors may be 0.
			"instances": int64(max(spec.Executors, 1)),
			"memory":    "512m",
		},
	}
	if spec.UserSparkConfigMap != "" {
		sparkSpec["sparkConfigMap"] = spec.UserSparkConfigMap
	}
	if spec.UserHadoopConfigMap != "" {
		sparkSpec["hadoopConfigMap"] = spec.UserHadoopConfigMap
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2",
		"kind":       "SparkApplication",
		"metadata":   map[string]any{"name": app.Name, "namespace": ns},
		"spec":       sparkSpec,
	}}
	if len(spec.Labels) > 0 {
		obj.SetLabels(spec.Labels)
	}
	created, err := dyn.Resource(SparkApplicationResource).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create sparkapplication %s/%s: %w", ns, app.Name, err)
	}
	return created, nil
}

func setInitialStatus(ctx context.Context, dyn dynamic.Interface, app *App, spec Spec, current *unstructured.Unstructured) error {
	now := time.Now().UTC()
	executorState := map[string]any{}
	for _, name := range app.ExecutorPods {
		executorState[name] = executorStateFor(spec.ExecutorPhase)
	}
	status := map[string]any{
		"sparkApplicationId":        app.AppID,
		"submissionID":              app.SubmissionID,
		"lastSubmissionAttemptTime": now.Add(-time.Minute).Format(time.RFC3339),
		"submissionAttempts":        int64(1),
		"executionAttempts":         int64(1),
		"driverInfo": map[string]any{
			"podName":          app.DriverPod,
			"webUIServiceName": app.Name + "-ui-svc",
			"webUIPort":        int64(4040),
		},
		"applicationState": map[string]any{"state": spec.State},
	}
	if len(executorState) > 0 {
		status["executorState"] = executorState
	}
	if IsTerminal(spec.State) {
		status["terminationTime"] = now.Format(time.RFC3339)
	}
	if spec.State == StateFailed || spec.State == StateSubmissionFailed {
		status["applicationState"] = map[string]any{"state": spec.State, "errorMessage": "driver container failed with ExitCode: 1, Reason: Error"}
	}
	return updateSparkAppStatus(ctx, dyn, app.Namespace, app.Name, current, func(u *unstructured.Unstructured) {
		u.Object["status"] = status
	})
}

func executorStateFor(phase corev1.PodPhase) string {
	switch phase {
	case corev1.PodRunning:
		return "RUNNING"
	case corev1.PodSucceeded:
		return "COMPLETED"
	case corev1.PodFailed:
		return "FAILED"
	default:
		return "PENDING"
	}
}

// SetState moves a SparkApplication to state through the status subresource,
// setting terminationTime when state is terminal and clearing it otherwise.
func SetState(ctx context.Context, dyn dynamic.Interface, ns, name, state string) error {
	return updateSparkAppStatus(ctx, dyn, ns, name, nil, func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, state, "status", "applicationState", "state")
		if IsTerminal(state) {
			if t, _, _ := unstructured.NestedString(u.Object, "status", "terminationTime"); t == "" {
				_ = unstructured.SetNestedField(u.Object, time.Now().UTC().Format(time.RFC3339), "status", "terminationTime")
			}
		} else {
			unstructured.RemoveNestedField(u.Object, "status", "terminationTime")
		}
		if _, ok, _ := unstructured.NestedMap(u.Object, "status", "driverInfo"); !ok {
			_ = unstructured.SetNestedMap(u.Object, map[string]any{}, "status", "driverInfo")
		}
	})
}

// updateSparkAppStatus applies mutate to current (if not nil, else to a fresh
// read) and writes the status; after a conflict it reads afresh.
func updateSparkAppStatus(ctx context.Context, dyn dynamic.Interface, ns, name string, current *unstructured.Unstructured, mutate func(*unstructured.Unstructured)) error {
	client := dyn.Resource(SparkApplicationResource).Namespace(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := current
		current = nil
		if u == nil {
			var err error
			if u, err = client.Get(ctx, name, metav1.GetOptions{}); err != nil {
				return err
			}
		} else {
			u = u.DeepCopy()
		}
		mutate(u)
		_, err := client.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("update sparkapplication %s/%s status: %w", ns, name, err)
	}
	return nil
}

// SetPodPhase moves a pod to phase through the status subresource, with the
// container states and conditions the kubelet would report. Like the kubelet,
// it cannot bring a terminated container back (restartPolicy Never).
func SetPodPhase(ctx context.Context, kube kubernetes.Interface, ns, name string, phase corev1.PodPhase) error {
	return setPodPhase(ctx, kube, ns, name, nil, phase)
}

// SetPodPhaseFrom is SetPodPhase starting from pod as the caller read it:
// it sends only the status update, and reads the Pod afresh only after a
// conflict (a benchmark that counts the API server's requests ends Pods
// without a GET of its own).
func SetPodPhaseFrom(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod, phase corev1.PodPhase) error {
	return setPodPhase(ctx, kube, pod.Namespace, pod.Name, pod, phase)
}

// setPodPhase starts from current when not nil, and reads afresh after a
// conflict.
func setPodPhase(ctx context.Context, kube kubernetes.Interface, ns, name string, current *corev1.Pod, phase corev1.PodPhase) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := current
		current = nil
		if pod == nil {
			var err error
			if pod, err = kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
				return err
			}
		} else {
			pod = pod.DeepCopy()
		}
		pod.Status = podStatus(pod, phase)
		_, err := kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set pod %s/%s phase %s: %w", ns, name, phase, err)
	}
	return nil
}

func podStatus(pod *corev1.Pod, phase corev1.PodPhase) corev1.PodStatus {
	now := metav1.Now()
	started := metav1.NewTime(now.Add(-30 * time.Second))
	st := pod.Status
	st.Phase = phase
	if phase == corev1.PodPending {
		return st
	}
	if st.StartTime == nil {
		st.StartTime = &started
	}
	ready := corev1.ConditionFalse
	reason := "PodCompleted"
	if phase == corev1.PodRunning {
		ready, reason = corev1.ConditionTrue, ""
	}
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
		{Type: corev1.ContainersReady, Status: ready, Reason: reason, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, Reason: reason, LastTransitionTime: now},
	}
	st.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     c.Image + "@sha256:" + strings.Repeat("0", 64),
			ContainerID: "containerd://" + randomHex(32),
		}
		switch phase {
		case corev1.PodRunning:
			cs.Ready, cs.Started = true, ptr.To(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
		case corev1.PodSucceeded:
			cs.Started = ptr.To(false)
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID}
		default: // Failed, Unknown
			cs.Started = ptr.To(false)
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: started, FinishedAt: now, ContainerID: cs.ContainerID}
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	return st
}

// deleteDriverOrphaningDependents removes the driver ownerReference from the
// maps and executor pods (what the garbage collector does for an orphan
// delete) and then deletes the driver pod. Doing the garbage collector's part
// here gives the same result whether or not a controller-manager runs; an
// orphan delete without one would leave the pod stuck on its orphan finalizer.
func deleteDriverOrphaningDependents(ctx context.Context, kube kubernetes.Interface, app *App) error {
	ns := app.Namespace
	for i, cm := range app.Maps {
		if !ownedBy(cm.OwnerReferences, app.DriverUID) {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.OwnerReferences = withoutOwner(cur.OwnerReferences, app.DriverUID)
			updated, err := kube.CoreV1().ConfigMaps(ns).Update(ctx, cur, metav1.UpdateOptions{})
			if err == nil {
				app.Maps[i] = updated
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("orphan configmap %s/%s: %w", ns, cm.Name, err)
		}
	}
	for _, name := range app.ExecutorPods {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.OwnerReferences = withoutOwner(cur.OwnerReferences, app.DriverUID)
			_, err = kube.CoreV1().Pods(ns).Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("orphan executor pod %s/%s: %w", ns, name, err)
		}
	}
	err := kube.CoreV1().Pods(ns).Delete(ctx, app.DriverPod, metav1.DeleteOptions{
		Preconditions:      metav1.NewUIDPreconditions(string(app.DriverUID)),
		GracePeriodSeconds: ptr.To(int64(0)),
	})
	if err != nil {
		return fmt.Errorf("delete driver pod %s/%s: %w", ns, app.DriverPod, err)
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func withoutOwner(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}

func sparkLabels(app *App, spec Spec, role string, operator bool) map[string]string {
	l := map[string]string{
		LabelAppID:   app.AppID,
		LabelRole:    role,
		LabelAppName: app.Name,
		LabelVersion: spec.SparkVersion,
	}
	if operator {
		l[LabelOperatorAppName] = app.Name
		l[LabelLaunchedByOperator] = "true"
		l[LabelSubmissionID] = app.SubmissionID
	}
	return l
}

func configMapVolume(volume, mapName string, items ...corev1.KeyToPath) corev1.Volume {
	return corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: mapName},
		Items:                items,
		DefaultMode:          ptr.To(int32(420)),
	}}}
}

// sharedVolumes are the maps both driver and executors mount besides their
// own conf map: Hadoop, krb5 and the user-supplied maps.
func sharedVolumes(app *App, spec Spec) ([]corev1.Volume, []corev1.VolumeMount, []corev1.EnvVar) {
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	var env []corev1.EnvVar
	if spec.Hadoop {
		vols = append(vols, configMapVolume(VolumeHadoopConf, hadoopMapName(app.ResourcePrefix)))
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeHadoopConf, MountPath: "/opt/hadoop/conf"})
		env = append(env, corev1.EnvVar{Name: "HADOOP_CONF_DIR", Value: "/opt/hadoop/conf"})
	}
	if spec.Krb5 {
		vols = append(vols, configMapVolume(VolumeKrb5, krb5MapName(app.ResourcePrefix), corev1.KeyToPath{Key: "krb5.conf", Path: "krb5.conf"}))
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeKrb5, MountPath: "/etc/krb5.conf", SubPath: "krb5.conf"})
	}
	if spec.UserSparkConfigMap != "" {
		vols = append(vols, configMapVolume(VolumeUserSparkConf, spec.UserSparkConfigMap))
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeUserSparkConf, MountPath: "/etc/spark/conf"})
	}
	if spec.UserHadoopConfigMap != "" {
		vols = append(vols, configMapVolume(VolumeUserHadoopConf, spec.UserHadoopConfigMap))
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeUserHadoopConf, MountPath: "/etc/hadoop/conf"})
		if !spec.Hadoop {
			env = append(env, corev1.EnvVar{Name: "HADOOP_CONF_DIR", Value: "/etc/hadoop/conf"})
		}
	}
	return vols, mounts, env
}

func driverPod(app *App, spec Spec, owner *metav1.OwnerReference) *corev1.Pod {
	vols := []corev1.Volume{
		{Name: volumeLocalDir, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		configMapVolume(VolumeDriverConf, app.DriverConfMap, corev1.KeyToPath{Key: "spark.properties", Path: "spark.properties", Mode: ptr.To(int32(420))}),
	}
	mounts := []corev1.VolumeMount{
		{Name: volumeLocalDir, MountPath: "/var/data/spark-" + newUUID()},
		{Name: VolumeDriverConf, MountPath: confDir},
	}
	env := []corev1.EnvVar{
		{Name: "SPARK_USER", Value: "spark"},
		{Name: "SPARK_APPLICATION_ID", Value: app.AppID},
		{Name: "SPARK_DRIVER_BIND_ADDRESS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
		{Name: "SPARK_LOCAL_DIRS", Value: mounts[0].MountPath},
		{Name: "SPARK_CONF_DIR", Value: confDir},
	}
	if spec.PodTemplate {
		vols = append(vols, configMapVolume(VolumePodTemplate, podTemplateMapName(app.ResourcePrefix), corev1.KeyToPath{Key: "podspec-configmap-key", Path: "pod-spec-template.yml"}))
		mounts = append(mounts, corev1.VolumeMount{Name: VolumePodTemplate, MountPath: "/opt/spark/pod-template"})
	}
	sv, sm, se := sharedVolumes(app, spec)
	for i := range sv {
		// The driver projects each shipped file by name, as real Spark does
		// (internal/sparksubmit compares); executors keep the plain volume.
		if sv[i].Name == VolumeHadoopConf {
			sv[i].ConfigMap.Items = []corev1.KeyToPath{{Key: "core-site.xml", Path: "core-site.xml"}, {Key: "hdfs-site.xml", Path: "hdfs-site.xml"}}
		}
	}
	vols, mounts, env = append(vols, sv...), append(mounts, sm...), append(env, se...)

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:   app.DriverPod,
			Labels: sparkLabels(app, spec, RoleDriver, !spec.NoSparkApplication),
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: "default",
			Volumes:            vols,
			Containers: []corev1.Container{{
				Name:            "spark-kubernetes-driver",
				Image:           sparkImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            []string{"driver", "--properties-file", confDir + "/spark.properties", "--class", mainClass, mainJar, "1000"},
				Ports: []corev1.ContainerPort{
					{Name: "driver-rpc-port", ContainerPort: 7078, Protocol: corev1.ProtocolTCP},
					{Name: "blockmanager", ContainerPort: 7079, Protocol: corev1.ProtocolTCP},
					{Name: "spark-ui", ContainerPort: 4040, Protocol: corev1.ProtocolTCP},
				},
				Env:          env,
				VolumeMounts: mounts,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("896Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("896Mi")},
				},
			}},
		},
	}
	if owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	pod.Spec.Containers = append(pod.Spec.Containers, spec.DriverSidecars...)
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, spec.DriverInitContainers...)
	onNode(pod, spec, spec.DriverPhase)
	return pod
}

// onNode turns a Pod into one the test node runs: the Spark container (the
// first) runs NodeImage for as long as its phase needs.
func onNode(pod *corev1.Pod, spec Spec, phase corev1.PodPhase) {
	if spec.NodeImage == "" {
		return
	}
	run := spec.DriverRun
	if run <= 0 && (phase == corev1.PodSucceeded || phase == corev1.PodFailed) {
		run = time.Second
	}
	var args []string
	if run > 0 {
		code := "0"
		switch phase {
		case corev1.PodFailed:
			code = "1"
		case corev1.PodRunning:
			code = strconv.Itoa(spec.DriverExit)
		}
		args = []string{"-run", run.String(), "-exit", code}
	}
	if spec.DriverShutdown > 0 {
		args = append(args, "-term-delay", spec.DriverShutdown.String())
	}
	c := &pod.Spec.Containers[0]
	c.Image, c.ImagePullPolicy, c.Command, c.Args, c.Ports = spec.NodeImage, corev1.PullNever, nil, args, nil
	c.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}
	pod.Spec.Hostname = ""
	if phase == corev1.PodPending {
		pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": "no-such-node"}
	}
}

// WaitForPodPhase waits (up to two minutes) until the Pod's phase, as the
// kubelet reports it, is phase; it fails at once when the Pod reaches another
// terminal phase. A Pod that already ran to its end counts as having been
// Running: a short run may end between two looks.
func WaitForPodPhase(ctx context.Context, kube kubernetes.Interface, ns, name string, phase corev1.PodPhase) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last corev1.PodPhase
	for {
		pod, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("wait for pod %s/%s to be %s: %w", ns, name, phase, err)
		}
		last = pod.Status.Phase
		if last == phase || (phase == corev1.PodRunning && (last == corev1.PodSucceeded || last == corev1.PodFailed)) {
			return nil
		}
		if last == corev1.PodSucceeded || last == corev1.PodFailed {
			return fmt.Errorf("pod %s/%s is %s, want %s", ns, name, last, phase)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s/%s still %s, want %s: %w", ns, name, last, phase, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func executorPod(app *App, spec Spec, id int, driverRef metav1.OwnerReference) *corev1.Pod {
	labels := sparkLabels(app, spec, RoleExecutor, !spec.NoSparkApplication)
	labels[LabelExecID] = strconv.Itoa(id)
	labels[LabelResourceProfileID] = "0"
	vols := []corev1.Volume{{Name: volumeLocalDir, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mounts := []corev1.VolumeMount{{Name: volumeLocalDir, MountPath: "/var/data/spark-" + newUUID()}}
	if app.ExecutorConfMap != "" {
		vols = append(vols, configMapVolume(VolumeExecutorConf, app.ExecutorConfMap))
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeExecutorConf, MountPath: confDir})
	}
	env := []corev1.EnvVar{
		{Name: "SPARK_USER", Value: "spark"},
		{Name: "SPARK_DRIVER_URL", Value: fmt.Sprintf("spark://CoarseGrainedScheduler@%s-driver-svc.%s.svc:7078", app.ResourcePrefix, app.Namespace)},
		{Name: "SPARK_EXECUTOR_CORES", Value: "1"},
		{Name: "SPARK_EXECUTOR_MEMORY", Value: "512m"},
		{Name: "SPARK_APPLICATION_ID", Value: app.AppID},
		{Name: "SPARK_EXECUTOR_ID", Value: strconv.Itoa(id)},
		{Name: "SPARK_RESOURCE_PROFILE_ID", Value: "0"},
		{Name: "SPARK_EXECUTOR_POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
	}
	sv, sm, se := sharedVolumes(app, spec)
	vols, mounts, env = append(vols, sv...), append(mounts, sm...), append(env, se...)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            fmt.Sprintf("%s-exec-%d", app.ResourcePrefix, id),
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{driverRef},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: "default",
			Hostname:           fmt.Sprintf("%s-exec-%d", truncate(app.ResourcePrefix, 50), id),
			Volumes:            vols,
			Containers: []corev1.Container{{
				Name:            "spark-kubernetes-executor",
				Image:           sparkImage,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            []string{"executor"},
				Ports:           []corev1.ContainerPort{{Name: "blockmanager", ContainerPort: 7079, Protocol: corev1.ProtocolTCP}},
				Env:             env,
				VolumeMounts:    mounts,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("896Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("896Mi")},
				},
			}},
		},
	}
	onNode(pod, spec, spec.ExecutorPhase)
	return pod
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimRight(s[:n], "-")
}
