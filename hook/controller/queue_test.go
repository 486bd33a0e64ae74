package controller

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// unitController is a controller with only its queue and metrics, for the
// event handlers.
func unitController(t *testing.T) *Controller {
	t.Helper()
	ctl := &Controller{log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[App]())}
	ctl.m = newMetrics(ctl.queue.Len)
	t.Cleanup(ctl.queue.ShutDown)
	return ctl
}

func (ctl *Controller) queued() []App { return drain(ctl.queue) }

// drain takes every item the queue holds, in order.
func drain[T comparable](q workqueue.TypedRateLimitingInterface[T]) []T {
	var out []T
	for q.Len() > 0 {
		x, _ := q.Get()
		q.Done(x)
		out = append(out, x)
	}
	return out
}

func kubeflowApp(state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": "pi", "namespace": "jobs"}}}
	if state != "" {
		_ = unstructured.SetNestedField(u.Object, state, "status", "applicationState", "state")
	}
	return u
}

func apacheApp(state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "spark.apache.org/v1", "kind": "SparkApplication",
		"metadata": map[string]any{"name": "pi", "namespace": "jobs"}}}
	if state != "" {
		_ = unstructured.SetNestedField(u.Object, state, "status", "currentState", "currentStateSummary")
	}
	return u
}

// A SparkApplication is queued, under its operator, when the rule's
// Terminal says its state has just become final, whichever operator runs
// it; a change between states that are not final queues nothing, nor does
// a final state seen again.
func TestASparkApplicationIsQueuedWhenItsStateBecomesFinalByTheRule(t *testing.T) {
	kubeflow := App{Namespace: "jobs", SparkApp: "pi", Operator: hook.OperatorKubeflow}
	apache := App{Namespace: "jobs", SparkApp: "pi", Operator: hook.OperatorApache}
	for _, tc := range []struct {
		name     string
		operator string
		old, new *unstructured.Unstructured
		want     []App
	}{
		{"kubeflow: submitted to running", hook.OperatorKubeflow, kubeflowApp("SUBMITTED"), kubeflowApp("RUNNING"), nil},
		{"kubeflow: running to completed", hook.OperatorKubeflow, kubeflowApp("RUNNING"), kubeflowApp("COMPLETED"), []App{kubeflow}},
		{"kubeflow: running to failed", hook.OperatorKubeflow, kubeflowApp("RUNNING"), kubeflowApp("FAILED"), []App{kubeflow}},
		{"kubeflow: completed seen again", hook.OperatorKubeflow, kubeflowApp("COMPLETED"), kubeflowApp("COMPLETED"), nil},
		{"apache: running to succeeded, which the operator may still restart", hook.OperatorApache, apacheApp("RunningHealthy"), apacheApp("Succeeded"), nil},
		{"apache: succeeded to resource released", hook.OperatorApache, apacheApp("Succeeded"), apacheApp("ResourceReleased"), []App{apache}},
		{"apache: failed to terminated without release", hook.OperatorApache, apacheApp("Failed"), apacheApp("TerminatedWithoutReleaseResources"), []App{apache}},
		{"apache: resource released seen again", hook.OperatorApache, apacheApp("ResourceReleased"), apacheApp("ResourceReleased"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := unitController(t)
			ctl.appChanged(tc.operator, tc.old, tc.new)
			if got := ctl.queued(); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

// An application first seen in a final state after the first list (it
// ended while the watch was broken) is queued; one of the first list is
// the fallback sweep's, and one still running is not queued.
func TestASparkApplicationFirstSeenFinalIsQueuedOnlyAfterTheFirstList(t *testing.T) {
	for _, tc := range []struct {
		name    string
		obj     *unstructured.Unstructured
		initial bool
		want    []App
	}{
		{"ended while the watch was broken", apacheApp("ResourceReleased"), false, []App{{Namespace: "jobs", SparkApp: "pi", Operator: hook.OperatorApache}}},
		{"in the first list", apacheApp("ResourceReleased"), true, nil},
		{"running", apacheApp("RunningHealthy"), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := unitController(t)
			ctl.appAdded(hook.OperatorApache, tc.obj, tc.initial)
			if got := ctl.queued(); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

// A driver Pod is cleaned through the SparkApplication that controls it,
// under that application's operator; a driver owned without control (the
// Apache operator's) or by a resource of a group the tool does not read
// is cleaned as the Pod, and cleanup finds its owner itself.
func TestADriverIsCleanedThroughTheSparkApplicationThatControlsIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		ref  metav1.OwnerReference
		want App
	}{
		{"kubeflow, controller", metav1.OwnerReference{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: "pi", Controller: ptr.To(true)},
			App{Namespace: "jobs", SparkApp: "pi", Operator: hook.OperatorKubeflow}},
		{"apache, no controller", metav1.OwnerReference{APIVersion: "spark.apache.org/v1", Kind: "SparkApplication", Name: "pi"},
			App{Namespace: "jobs", DriverPod: "pi-0-driver"}},
		{"another group's SparkApplication", metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "SparkApplication", Name: "pi", Controller: ptr.To(true)},
			App{Namespace: "jobs", DriverPod: "pi-0-driver"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "pi-0-driver", OwnerReferences: []metav1.OwnerReference{tc.ref}}}
			if got := appOfDriver(sparkPodOf(p)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
