// Package ruletest holds the fixtures the deletion rule's table is read
// against: one application (driver Pod, SparkApplication, its maps) at a
// fixed instant, for the rule's tests and the tests of what reports on it.
package ruletest

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// The application's namespace and id.
const (
	NS    = "jobs"
	AppID = "spark-0123456789abcdef0123456789abcdef"
)

// Now is the instant the rule judges at.
var Now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// Ago is the instant d before Now.
func Ago(d time.Duration) metav1.Time { return metav1.NewTime(Now.Add(-d)) }

// Driver is the application's driver Pod in phase; a finished one ended two
// hours ago.
func Driver(phase corev1.PodPhase) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: NS, Name: "etl-driver", UID: "uid-driver", CreationTimestamp: Ago(4 * time.Hour),
		Labels: map[string]string{rule.LabelAppSelector: AppID, rule.LabelRole: rule.RoleDriver}}, Status: corev1.PodStatus{Phase: phase}}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: rule.DefaultDriverContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: Ago(2 * time.Hour)}}}}
	}
	return p
}

// App is the application's SparkApplication in state; a terminal one ended
// two hours ago. It names team-spark-conf as user-supplied.
func App(state string) *rule.SparkApp {
	a := &rule.SparkApp{Name: "etl", UID: "uid-app", State: state, AppID: AppID, DriverPod: "etl-driver",
		UserMaps: map[string]string{"team-spark-conf": "spec.sparkConfigMap"}}
	if a.Terminal() {
		a.TerminatedAt = Now.Add(-2 * time.Hour)
	}
	return a
}

// FinishedView is an application whose driver Succeeded and whose
// SparkApplication COMPLETED two hours Ago.
func FinishedView() *rule.View {
	a := rule.NewView(NS)
	a.SetDriver(Driver(corev1.PodSucceeded))
	a.SetApp(App("COMPLETED"))
	return a
}

// Owner references to the driver Pod and to the SparkApplication.
var (
	ByDriver = metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "etl-driver", UID: "uid-driver"}
	ByApp    = metav1.OwnerReference{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: "etl", UID: "uid-app"}
)

// Map is a map three hours old, last written before the snapshot mark.
func Map(name string, refs ...metav1.OwnerReference) *metav1.ObjectMeta {
	return &metav1.ObjectMeta{Namespace: NS, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "500",
		CreationTimestamp: Ago(3 * time.Hour), OwnerReferences: refs}
}

// WithLabels sets a map's labels from key, value pairs.
func WithLabels(m *metav1.ObjectMeta, kv ...string) *metav1.ObjectMeta {
	m.Labels = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Labels[kv[i]] = kv[i+1]
	}
	return m
}

// ExecLabels labels a map as the application's executor map.
func ExecLabels(m *metav1.ObjectMeta) *metav1.ObjectMeta {
	return WithLabels(m, rule.LabelAppSelector, AppID, rule.LabelRole, rule.RoleExecutor)
}

// PodUsing is a Pod in phase that mounts maps.
func PodUsing(name string, phase corev1.PodPhase, maps ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: NS, Name: name}, Status: corev1.PodStatus{Phase: phase}}
	for _, m := range maps {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: m, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: m}}}})
	}
	return p
}

// Names Spark gives a driver and an executor map.
const (
	DriverMap = "spark-drv-0123456789abcdef-conf-map"
	ExecMap   = "spark-exec-0123456789abcdef-conf-map"
)

// ClientModeView is an application known only by its id, as a client-mode
// one is.
func ClientModeView() *rule.View {
	a := rule.NewView(NS)
	a.AddID(AppID)
	return a
}

// ViewWithDriver is FinishedView with its driver Pod in phase.
func ViewWithDriver(phase corev1.PodPhase) func() *rule.View {
	return func() *rule.View { a := FinishedView(); a.SetDriver(Driver(phase)); return a }
}

// ViewWithState is FinishedView with its SparkApplication in state.
func ViewWithState(state string) func() *rule.View {
	return func() *rule.View { a := FinishedView(); a.SetApp(App(state)); return a }
}

// ViewWithRetries is a finished application whose SparkApplication is in
// state under a restart policy, after attempts submissions.
func ViewWithRetries(state, policy string, retries *int64, attempts int64) func() *rule.View {
	return func() *rule.View {
		a := FinishedView()
		sa := App(state)
		sa.RestartPolicy, sa.SubmissionRetries, sa.SubmissionAttempts = policy, retries, attempts
		a.SetApp(sa)
		return a
	}
}
