package rule_test

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// An Apache Spark Kubernetes Operator application "pi" in its attempt 1
// (app id pi-1), as release 1.0.0 writes it: its state changed two hours
// ago; its driver Pod pi-1-driver owns its maps without being their
// controller; it names pi-user-conf in spec.configMapSpecs.
const (
	apacheID     = "pi-1"
	apacheDriver = "pi-1-driver"
)

var byApacheDriver = metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: apacheDriver, UID: "uid-apache-driver", BlockOwnerDeletion: ptr(true)}

// apacheObject is the application as the API server returns it; tol, when
// not nil, is its spec.applicationTolerations; state "" leaves the status
// out (not yet seen by the operator).
func apacheObject(state string, attempt int64, tol map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"configMapSpecs": []any{map[string]any{"name": "pi-user-conf"}}}
	if tol != nil {
		spec["applicationTolerations"] = tol
	}
	obj := map[string]any{
		"apiVersion": "spark.apache.org/v1", "kind": "SparkApplication",
		"metadata": map[string]any{"name": "pi", "namespace": ruleNS, "uid": "uid-apache"},
		"spec":     spec,
	}
	if state != "" {
		obj["status"] = map[string]any{
			"currentState":          map[string]any{"currentStateSummary": state, "lastTransitionTime": ruleNow.Add(-2 * time.Hour).Format(time.RFC3339)},
			"currentAttemptSummary": map[string]any{"attemptInfo": map[string]any{"id": attempt}},
		}
	}
	return &unstructured.Unstructured{Object: obj}
}

// apacheDriverPod is the driver of attempt id (pi-<id>-driver) in phase;
// a finished one ended two hours ago.
func apacheDriverPod(id string, phase corev1.PodPhase) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ruleNS, Name: id + "-driver", UID: "uid-apache-driver", CreationTimestamp: ago(4 * time.Hour),
		Labels: map[string]string{rule.LabelAppSelector: id, rule.LabelRole: rule.RoleDriver, "spark.operator/spark-app-name": "pi"}},
		Status: corev1.PodStatus{Phase: phase}}
	if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: rule.DefaultDriverContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(2 * time.Hour)}}}}
	}
	return p
}

// apacheView is the application in state with its attempt-1 driver in
// phase, as sweep sees it through a map the driver owns.
func apacheView(state string, phase corev1.PodPhase, tol map[string]any) func() *rule.View {
	return func() *rule.View {
		a := rule.NewView(ruleNS)
		a.SetDriver(apacheDriverPod(apacheID, phase))
		a.SetApp(rule.ParseSparkApp(apacheObject(state, 1, tol)))
		return a
	}
}

// apacheRestarted is the application in attempt 2 (state), seen through a
// map of attempt 1, whose driver is in phase.
func apacheRestarted(state string, phase corev1.PodPhase) func() *rule.View {
	return func() *rule.View {
		a := rule.NewView(ruleNS)
		a.SetDriver(apacheDriverPod(apacheID, phase))
		a.SetApp(rule.ParseSparkApp(apacheObject(state, 2, nil)))
		return a
	}
}

// apacheMap is a map of attempt 1 owned by its driver and labelled as the
// operator labels it (the driver Pod's labels).
func apacheMap(name string) *metav1.ObjectMeta {
	return withLabels(ruleMap(name, byApacheDriver), rule.LabelAppSelector, apacheID, rule.LabelRole, rule.RoleDriver, "spark.operator/spark-app-name", "pi")
}
