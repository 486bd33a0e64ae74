package sparkfixture_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	sf "github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// No controller-manager: nothing but the fixture changes what it made.
var cp = kubecluster.NewShared(kubecluster.Options{})

func TestMain(m *testing.M) { os.Exit(cp.RunMain(m)) }

var (
	appIDRe     = regexp.MustCompile(`^spark-[0-9a-f]{32}$`)
	airflowName = regexp.MustCompile(`^spark-pi-[a-z0-9]{8}$`)
	driverMapRe = regexp.MustCompile(`^spark-drv-[0-9a-f]{16}-conf-map$`)
	execMapRe   = regexp.MustCompile(`^spark-exec-[0-9a-f]{16}-conf-map$`)
)

func TestCreateLeavesWhatSparkAndTheOperatorLeave(t *testing.T) {
	cases := []struct {
		name string
		spec sf.Spec
	}{
		{"completed operator app", sf.Spec{}},
		{"failed app", sf.Spec{State: sf.StateFailed}},
		{"running app with executors", sf.Spec{State: sf.StateRunning, Executors: 2}},
		{"submitted app with pending driver", sf.Spec{State: sf.StateSubmitted}},
		{"pod template, hadoop and krb5 maps", sf.Spec{PodTemplate: true, Hadoop: true, Krb5: true, Executors: 1}},
		{"user-supplied maps", sf.Spec{UserSparkConfigMap: "team-spark-conf", UserHadoopConfigMap: "team-hadoop-conf", Executors: 1}},
		{"spark 3.1.1 executor map without owner", sf.Spec{LegacyExecutorOwner: true}},
		{"spark 3.0 driver map name", sf.Spec{Pre31: true}},
		{"executor map disabled", sf.Spec{NoExecutorMap: true}},
		{"spark-submit without operator", sf.Spec{NoSparkApplication: true, Executors: 1, Hadoop: true}},
		{"driver deleted, maps orphaned", sf.Spec{DriverDeleted: true, Executors: 1, PodTemplate: true}},
		{"explicit name and labels", sf.Spec{Name: "nightly-etl", Labels: map[string]string{"team": "data"}}},
		{"padded data", sf.Spec{DataBytes: 20 << 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			ns := cp.NewNamespace(t)
			kube, dyn := cp.Get(t).Clientset(), cp.Get(t).Dynamic()
			app, err := sf.Create(ctx, kube, dyn, ns, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			checkApp(ctx, t, kube, dyn, app, tc.spec)
		})
	}
}

// checkApp compares what is on the server with the table in
// shared/docs/spark-configmaps.md.
func checkApp(ctx context.Context, t *testing.T, kube kubernetes.Interface, dyn dynamic.Interface, app *sf.App, spec sf.Spec) {
	t.Helper()
	ns := app.Namespace
	operator := !spec.NoSparkApplication
	state := spec.State
	if state == "" {
		state = sf.StateCompleted
	}

	if !appIDRe.MatchString(app.AppID) {
		t.Errorf("app id %q is not spark-<32 hex>", app.AppID)
	}
	if spec.Name == "" && !airflowName.MatchString(app.Name) {
		t.Errorf("generated name %q is not <base>-<8 [a-z0-9]>", app.Name)
	}
	if spec.Name != "" && app.Name != spec.Name {
		t.Errorf("name %q, want %q", app.Name, spec.Name)
	}

	// SparkApplication and its status.
	sa, err := dyn.Resource(sf.SparkApplicationResource).Namespace(ns).Get(ctx, app.Name, metav1.GetOptions{})
	switch {
	case !operator:
		if !apierrors.IsNotFound(err) {
			t.Errorf("spark-submit without operator: want no SparkApplication, got %v", err)
		}
	case err != nil:
		t.Fatalf("get SparkApplication: %v", err)
	default:
		str := func(path ...string) string { s, _, _ := unstructured.NestedString(sa.Object, path...); return s }
		for path, want := range map[string]string{
			"status.sparkApplicationId":     app.AppID,
			"status.submissionID":           app.SubmissionID,
			"status.driverInfo.podName":     app.DriverPod,
			"status.applicationState.state": state,
			"spec.sparkConfigMap":           spec.UserSparkConfigMap,
			"spec.hadoopConfigMap":          spec.UserHadoopConfigMap,
			"metadata.labels.team":          spec.Labels["team"],
		} {
			if got := str(strings.Split(path, ".")...); got != want {
				t.Errorf("SparkApplication %s = %q, want %q", path, got, want)
			}
		}
		if str("status", "lastSubmissionAttemptTime") == "" {
			t.Error("status.lastSubmissionAttemptTime not set")
		}
		if got := str("status", "terminationTime") != ""; got != sf.IsTerminal(state) {
			t.Errorf("terminationTime set = %v for state %s", got, state)
		}
		if app.SparkAppUID != sa.GetUID() {
			t.Errorf("SparkAppUID %s, server has %s", app.SparkAppUID, sa.GetUID())
		}
	}

	// Driver pod.
	driver, err := kube.CoreV1().Pods(ns).Get(ctx, app.DriverPod, metav1.GetOptions{})
	if spec.DriverDeleted {
		if !apierrors.IsNotFound(err) {
			t.Errorf("driver pod should be deleted, got %v", err)
		}
	} else {
		if err != nil {
			t.Fatalf("get driver pod: %v", err)
		}
		checkDriverPod(t, app, spec, driver, operator)
	}

	// Generated maps.
	wantMaps := 1
	if !spec.Pre31 && !spec.NoExecutorMap {
		wantMaps++
	}
	for _, b := range []bool{spec.PodTemplate, spec.Hadoop, spec.Krb5} {
		if b {
			wantMaps++
		}
	}
	if len(app.Maps) != wantMaps {
		t.Fatalf("maps %v, want %d", app.MapNames(), wantMaps)
	}
	for _, m := range app.Maps {
		cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, m.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get map: %v", err)
		}
		isExec := m.Name == app.ExecutorConfMap
		wantOwner := !spec.DriverDeleted && !(isExec && spec.LegacyExecutorOwner)
		checkOwnedByDriver(t, "map "+cm.Name, cm.OwnerReferences, app.DriverPod, app.DriverUID, wantOwner)
		if isExec {
			if !execMapRe.MatchString(cm.Name) {
				t.Errorf("executor map name %q", cm.Name)
			}
			want := map[string]string{sf.LabelAppID: app.AppID, sf.LabelRole: sf.RoleExecutor}
			if !mapsEqual(cm.Labels, want) {
				t.Errorf("executor map labels %v, want %v", cm.Labels, want)
			}
		} else if len(cm.Labels) != 0 {
			t.Errorf("map %s has labels %v; Spark labels only the executor map", cm.Name, cm.Labels)
		}
		if spec.DataBytes > 0 {
			size := 0
			for k, v := range cm.Data {
				size += len(k) + len(v)
			}
			if size < spec.DataBytes || size > spec.DataBytes+64 {
				t.Errorf("map %s holds %d bytes, want about %d", cm.Name, size, spec.DataBytes)
			}
		}
	}
	switch {
	case spec.Pre31:
		if app.DriverConfMap != app.ResourcePrefix+"-driver-conf-map" || app.ExecutorConfMap != "" {
			t.Errorf("pre-3.1 maps: driver %q executor %q", app.DriverConfMap, app.ExecutorConfMap)
		}
	default:
		if !driverMapRe.MatchString(app.DriverConfMap) {
			t.Errorf("driver map name %q", app.DriverConfMap)
		}
	}
	for _, n := range []struct {
		on   bool
		name string
	}{
		{spec.PodTemplate, app.ResourcePrefix + "-driver-podspec-conf-map"},
		{spec.Hadoop, app.ResourcePrefix + "-hadoop-config"},
		{spec.Krb5, app.ResourcePrefix + "-krb5-file"},
	} {
		if n.on && !slices.Contains(app.MapNames(), n.name) {
			t.Errorf("missing map %s in %v", n.name, app.MapNames())
		}
	}

	// User-supplied maps: no owner, no labels, not among the generated ones.
	for _, name := range []string{spec.UserSparkConfigMap, spec.UserHadoopConfigMap} {
		if name == "" {
			continue
		}
		cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("user map: %v", err)
		}
		if len(cm.OwnerReferences) != 0 || len(cm.Labels) != 0 || slices.Contains(app.MapNames(), name) {
			t.Errorf("user map %s: owners %v labels %v", name, cm.OwnerReferences, cm.Labels)
		}
		if !slices.Contains(app.UserMaps, name) {
			t.Errorf("App.UserMaps %v lacks %s", app.UserMaps, name)
		}
	}

	// Executor pods.
	if len(app.ExecutorPods) != spec.Executors {
		t.Fatalf("executor pods %v, want %d", app.ExecutorPods, spec.Executors)
	}
	for i, name := range app.ExecutorPods {
		pod, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get executor: %v", err)
		}
		if pod.Labels[sf.LabelAppID] != app.AppID || pod.Labels[sf.LabelRole] != sf.RoleExecutor || pod.Labels[sf.LabelExecID] != strconv.Itoa(i+1) {
			t.Errorf("executor %s labels %v", name, pod.Labels)
		}
		if operator != (pod.Labels[sf.LabelLaunchedByOperator] == "true") {
			t.Errorf("executor %s operator labels %v", name, pod.Labels)
		}
		checkOwnedByDriver(t, "executor "+name, pod.OwnerReferences, app.DriverPod, app.DriverUID, !spec.DriverDeleted)
		if app.ExecutorConfMap != "" && volumeMap(pod, sf.VolumeExecutorConf) != app.ExecutorConfMap {
			t.Errorf("executor %s does not mount %s via %s: %v", name, app.ExecutorConfMap, sf.VolumeExecutorConf, pod.Spec.Volumes)
		}
		checkSharedVolumes(t, "executor "+name, pod, app, spec)
	}
}

func checkDriverPod(t *testing.T, app *sf.App, spec sf.Spec, driver *corev1.Pod, operator bool) {
	t.Helper()
	if driver.UID != app.DriverUID {
		t.Errorf("DriverUID %s, server has %s", app.DriverUID, driver.UID)
	}
	want := map[string]string{
		sf.LabelAppID:   app.AppID,
		sf.LabelRole:    sf.RoleDriver,
		sf.LabelAppName: app.Name,
	}
	if operator {
		want[sf.LabelOperatorAppName] = app.Name
		want[sf.LabelLaunchedByOperator] = "true"
		want[sf.LabelSubmissionID] = app.SubmissionID
	}
	for k, v := range want {
		if driver.Labels[k] != v {
			t.Errorf("driver label %s = %q, want %q", k, driver.Labels[k], v)
		}
	}
	if driver.Labels[sf.LabelVersion] == "" {
		t.Error("driver has no spark-version label")
	}
	if !operator {
		if len(driver.OwnerReferences) != 0 || driver.Labels[sf.LabelLaunchedByOperator] != "" {
			t.Errorf("spark-submit driver: owners %v labels %v", driver.OwnerReferences, driver.Labels)
		}
		if driver.Name != app.ResourcePrefix+"-driver" {
			t.Errorf("spark-submit driver name %q", driver.Name)
		}
	} else {
		if driver.Name != app.Name+"-driver" {
			t.Errorf("operator driver name %q", driver.Name)
		}
		if len(driver.OwnerReferences) != 1 {
			t.Fatalf("driver owners %v", driver.OwnerReferences)
		}
		ref := driver.OwnerReferences[0]
		if ref.Kind != "SparkApplication" || ref.APIVersion != "sparkoperator.k8s.io/v1beta2" || ref.Name != app.Name ||
			ref.UID != app.SparkAppUID || ref.Controller == nil || !*ref.Controller || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("driver owner %+v", ref)
		}
	}
	wantPhase := spec.DriverPhase
	if wantPhase == "" {
		wantPhase = map[string]corev1.PodPhase{"": corev1.PodSucceeded, sf.StateCompleted: corev1.PodSucceeded,
			sf.StateFailed: corev1.PodFailed, sf.StateRunning: corev1.PodRunning}[spec.State]
		if wantPhase == "" {
			wantPhase = corev1.PodPending
		}
	}
	if driver.Status.Phase != wantPhase {
		t.Errorf("driver phase %s, want %s", driver.Status.Phase, wantPhase)
	}
	if volumeMap(driver, sf.VolumeDriverConf) != app.DriverConfMap {
		t.Errorf("driver does not mount %s via %s: %v", app.DriverConfMap, sf.VolumeDriverConf, driver.Spec.Volumes)
	}
	if spec.PodTemplate && volumeMap(driver, sf.VolumePodTemplate) != app.ResourcePrefix+"-driver-podspec-conf-map" {
		t.Errorf("driver does not mount the pod template: %v", driver.Spec.Volumes)
	}
	checkSharedVolumes(t, "driver", driver, app, spec)
}

func checkSharedVolumes(t *testing.T, who string, pod *corev1.Pod, app *sf.App, spec sf.Spec) {
	t.Helper()
	for _, v := range []struct {
		on           bool
		volume, name string
	}{
		{spec.Hadoop, sf.VolumeHadoopConf, app.ResourcePrefix + "-hadoop-config"},
		{spec.Krb5, sf.VolumeKrb5, app.ResourcePrefix + "-krb5-file"},
		{spec.UserSparkConfigMap != "", sf.VolumeUserSparkConf, spec.UserSparkConfigMap},
		{spec.UserHadoopConfigMap != "", sf.VolumeUserHadoopConf, spec.UserHadoopConfigMap},
	} {
		if v.on && volumeMap(pod, v.volume) != v.name {
			t.Errorf("%s does not mount %s via %s: %v", who, v.name, v.volume, pod.Spec.Volumes)
		}
	}
}

func checkOwnedByDriver(t *testing.T, what string, refs []metav1.OwnerReference, driver string, uid types.UID, want bool) {
	t.Helper()
	if !want {
		if len(refs) != 0 {
			t.Errorf("%s: want no owner, got %v", what, refs)
		}
		return
	}
	if len(refs) != 1 {
		t.Errorf("%s: want the driver pod as owner, got %v", what, refs)
		return
	}
	r := refs[0]
	if r.APIVersion != "v1" || r.Kind != "Pod" || r.Name != driver || r.UID != uid || r.Controller == nil || !*r.Controller {
		t.Errorf("%s: owner %+v, want controller Pod %s (%s)", what, r, driver, uid)
	}
}

func volumeMap(pod *corev1.Pod, volume string) string {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			return v.ConfigMap.Name
		}
	}
	return ""
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSetStateAndSetPodPhaseFinishARunningApplication(t *testing.T) {
	ctx := t.Context()
	ns := cp.NewNamespace(t)
	kube, dyn := cp.Get(t).Clientset(), cp.Get(t).Dynamic()
	app, err := sf.Create(ctx, kube, dyn, ns, sf.Spec{State: sf.StateRunning, Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := sf.SetPodPhase(ctx, kube, ns, app.ExecutorPods[0], corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	if err := sf.SetPodPhase(ctx, kube, ns, app.DriverPod, corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	if err := sf.SetState(ctx, dyn, ns, app.Name, sf.StateCompleted); err != nil {
		t.Fatal(err)
	}
	driver, err := kube.CoreV1().Pods(ns).Get(ctx, app.DriverPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if driver.Status.Phase != corev1.PodSucceeded || driver.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Errorf("driver status %+v", driver.Status)
	}
	sa, err := dyn.Resource(sf.SparkApplicationResource).Namespace(ns).Get(ctx, app.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state, _, _ := unstructured.NestedString(sa.Object, "status", "applicationState", "state")
	term, _, _ := unstructured.NestedString(sa.Object, "status", "terminationTime")
	if state != sf.StateCompleted || term == "" {
		t.Errorf("state %q terminationTime %q", state, term)
	}
	// A terminated container cannot run again (restartPolicy Never), on a real
	// kubelet or here.
	if err := sf.SetPodPhase(ctx, kube, ns, app.DriverPod, corev1.PodRunning); !apierrors.IsInvalid(err) {
		t.Errorf("Succeeded -> Running: want 422 Invalid, got %v", err)
	}
}

func TestBulkMakesFiveMapsPerFinishedApplication(t *testing.T) {
	for _, tc := range []struct{ maps, apps int }{{50, 10}, {7, 2}} {
		ctx := t.Context()
		ns := cp.NewNamespace(t)
		kube, dyn := cp.Get(t).Clientset(), cp.Get(t).Dynamic()
		apps, err := sf.Bulk(ctx, kube, dyn, ns, tc.maps, sf.BulkOptions{Template: sf.Spec{DataBytes: 4 << 10}})
		if err != nil {
			t.Fatal(err)
		}
		if len(apps) != tc.apps {
			t.Fatalf("Bulk(%d): %d applications, want %d", tc.maps, len(apps), tc.apps)
		}
		list, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		made := 0
		for _, a := range apps {
			made += len(a.Maps)
		}
		if len(list.Items) != tc.maps || made != tc.maps {
			t.Fatalf("Bulk(%d): %d maps on the server, %d reported", tc.maps, len(list.Items), made)
		}
		for _, a := range apps {
			if len(a.Maps) == 5 {
				checkApp(ctx, t, kube, dyn, a, sf.Spec{PodTemplate: true, Hadoop: true, Krb5: true, DataBytes: 4 << 10})
			}
		}
	}
}
