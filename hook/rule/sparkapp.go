package rule

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Terminal SparkApplication states (status.applicationState.state). Every
// other state, the empty one included, means the application may still
// create or use its maps; SUBMISSION_FAILED is final only once the operator
// will not submit it again (see operatorRetries).
var terminalStates = map[string]bool{"COMPLETED": true, "FAILED": true, "SUBMISSION_FAILED": true}

// The spec.restartPolicy.type values of the Kubeflow Spark Operator.
const (
	restartNever     = "Never"
	restartOnFailure = "OnFailure"
	restartAlways    = "Always"
)

// ConfExecutorDeleteOnTermination is the Spark setting that, when false,
// keeps executor Pods and the executor map after the application stops.
const ConfExecutorDeleteOnTermination = "spark.kubernetes.executor.deleteOnTermination"

// SparkApp is what the tool reads from a SparkApplication.
type SparkApp struct {
	Name          string
	UID           types.UID
	State         string
	AppID         string    // status.sparkApplicationId
	DriverPod     string    // status.driverInfo.podName
	TerminatedAt  time.Time // status.terminationTime, zero if unknown
	UserMaps      map[string]string
	SubmissionID  string
	CreationStamp time.Time

	// What decides whether the operator retries a failed submission:
	// spec.restartPolicy.type ("" when unset, which the operator defaults
	// to Never), spec.restartPolicy.onSubmissionFailureRetries (nil when
	// unset) and status.submissionAttempts. RetryUnreadable: one of them is
	// there but not what the operator writes.
	RestartPolicy      string
	SubmissionRetries  *int64
	SubmissionAttempts int64
	RetryUnreadable    bool

	// What the report needs to say why the maps stayed: whether
	// spec.timeToLiveSeconds is set (the operator then deletes the
	// application, and the garbage collector its driver Pod and maps), and
	// whether spec.sparkConf turns executor deletion off (Spark then leaves
	// the executor map behind even when the driver stops normally).
	HasTTL              bool
	ExecutorDeletionOff bool

	// Group is the API group the application was read in: which operator
	// runs it. Apache holds what only the Apache Spark Kubernetes Operator
	// writes (nil for a Kubeflow application).
	Group  string
	Apache *ApacheApp
}

// Terminal reports that the application will not run again by itself. An edit of its
// spec still makes the operator rerun a COMPLETED or FAILED application;
// that is why every delete re-reads the application first.
func (a *SparkApp) Terminal() bool {
	if a.Apache != nil {
		return apacheTerminalStates[a.State]
	}
	return terminalStates[a.State] && a.OperatorRetries() == ""
}

// OperatorRetries is the Kubeflow Spark Operator's own retry rule (its
// ShouldRetry) for a state this tool would otherwise take as final: it says
// why the operator will run the application again, or "" when it will not.
//
// A SUBMISSION_FAILED application is submitted again under restartPolicy
// Always, and under OnFailure while status.submissionAttempts is at most
// onSubmissionFailureRetries; only otherwise does the operator move it to
// FAILED. FAILED and COMPLETED are never left by the operator's own
// retries: a run that fails with onFailureRetries left goes from FAILING
// to PENDING_RERUN without passing through FAILED. A restart policy this
// tool does not know, or counts it cannot read, count as retried: when in
// doubt, the maps stay.
func (a *SparkApp) OperatorRetries() string {
	if a.State != "SUBMISSION_FAILED" {
		return ""
	}
	switch {
	case a.RestartPolicy == "" || a.RestartPolicy == restartNever:
		return ""
	case a.RestartPolicy == restartAlways:
		return "restartPolicy Always: the operator submits it again"
	case a.RestartPolicy != restartOnFailure:
		return fmt.Sprintf("restartPolicy %s is not one this tool knows: it may be submitted again", Shown(a.RestartPolicy))
	case a.RetryUnreadable:
		return "its submission retries cannot be read: it may be submitted again"
	case a.SubmissionRetries != nil && a.SubmissionAttempts <= *a.SubmissionRetries:
		return fmt.Sprintf("the operator submits it again: %d submission attempt(s) of 1+%d", a.SubmissionAttempts, *a.SubmissionRetries)
	}
	return ""
}

// ParseSparkApp reads the fields that matter from an unstructured
// SparkApplication. Missing fields stay empty: the operator fills status in
// steps, and an old operator may not set all of it.
func ParseSparkApp(u *unstructured.Unstructured) *SparkApp {
	a := &SparkApp{
		Name:          u.GetName(),
		UID:           u.GetUID(),
		UserMaps:      map[string]string{},
		CreationStamp: u.GetCreationTimestamp().Time,
	}
	a.Group, _, _ = strings.Cut(u.GetAPIVersion(), "/")
	if a.Group == ApacheGroup {
		parseApacheApp(u, a)
		return a
	}
	a.State, _, _ = unstructured.NestedString(u.Object, "status", "applicationState", "state")
	// Status is not validated: a state that is no state name is shown
	// quoted in reasons (it is not terminal either way).
	a.State = Shown(a.State)
	a.AppID, _, _ = unstructured.NestedString(u.Object, "status", "sparkApplicationId")
	a.DriverPod, _, _ = unstructured.NestedString(u.Object, "status", "driverInfo", "podName")
	a.SubmissionID, _, _ = unstructured.NestedString(u.Object, "status", "submissionID")
	a.readRetries(u)
	if v, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "timeToLiveSeconds"); ok && v != nil {
		a.HasTTL = true
	}
	if v, ok, _ := unstructured.NestedString(u.Object, "spec", "sparkConf", ConfExecutorDeleteOnTermination); ok && strings.EqualFold(strings.TrimSpace(v), "false") {
		a.ExecutorDeletionOff = true
	}
	if ts, ok, _ := unstructured.NestedString(u.Object, "status", "terminationTime"); ok && ts != "" {
		if t, err := time.Parse(time.RFC3339, ts); err == nil {
			a.TerminatedAt = t
		}
	}
	// User-supplied maps are never deleted, however they look.
	if name, ok, _ := unstructured.NestedString(u.Object, "spec", "sparkConfigMap"); ok && name != "" {
		a.UserMaps[name] = "spec.sparkConfigMap"
	}
	if name, ok, _ := unstructured.NestedString(u.Object, "spec", "hadoopConfigMap"); ok && name != "" {
		a.UserMaps[name] = "spec.hadoopConfigMap"
	}
	for _, role := range []string{"driver", "executor"} {
		list, _, _ := unstructured.NestedSlice(u.Object, "spec", role, "configMaps")
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				if name, ok := m["name"].(string); ok && name != "" {
					a.UserMaps[name] = "spec." + role + ".configMaps"
				}
			}
		}
	}
	// The application's own volumes, which its driver and executors mount
	// (directly or projected): maps the user made for it.
	vols, _, _ := unstructured.NestedSlice(u.Object, "spec", "volumes")
	for _, item := range vols {
		v, _ := item.(map[string]any)
		if name, ok, _ := unstructured.NestedString(v, "configMap", "name"); ok && name != "" {
			a.UserMaps[name] = "spec.volumes"
		}
		sources, _, _ := unstructured.NestedSlice(v, "projected", "sources")
		for _, src := range sources {
			s, _ := src.(map[string]any)
			if name, ok, _ := unstructured.NestedString(s, "configMap", "name"); ok && name != "" {
				a.UserMaps[name] = "spec.volumes"
			}
		}
	}
	return a
}

// readRetries reads what operatorRetries needs. Fields the operator has
// not written stay at their zero value, as the operator reads them.
func (a *SparkApp) readRetries(u *unstructured.Unstructured) {
	v, ok, err := unstructured.NestedFieldNoCopy(u.Object, "spec", "restartPolicy", "type")
	if s, isString := v.(string); ok && isString {
		a.RestartPolicy = s
	} else if err != nil || (ok && v != nil) {
		// Not what the operator's schema allows: the policy is unknown.
		a.RestartPolicy = "(unreadable)"
	}
	if n, ok, good := nestedCount(u.Object, "spec", "restartPolicy", "onSubmissionFailureRetries"); ok {
		a.SubmissionRetries, a.RetryUnreadable = &n, a.RetryUnreadable || !good
	}
	if n, ok, good := nestedCount(u.Object, "status", "submissionAttempts"); ok {
		a.SubmissionAttempts, a.RetryUnreadable = n, a.RetryUnreadable || !good
	}
}

// nestedCount reads a whole number from decoded JSON (an int64, or a
// float64 where the object was built by hand): the number, whether the
// field is there, and whether it is a whole number.
func nestedCount(obj map[string]any, fields ...string) (n int64, present, whole bool) {
	v, ok, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if err != nil {
		return 0, true, false // a parent that is not an object
	}
	if !ok || v == nil {
		return 0, false, true
	}
	switch n := v.(type) {
	case int64:
		return n, true, true
	case int32:
		return int64(n), true, true
	case int:
		return int64(n), true, true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true, true
		}
	}
	return 0, true, false
}

// StateOf is an application's state for a reason: with why the operator
// runs it again where its state alone reads as final.
func StateOf(sa *SparkApp) string {
	if why := sa.OperatorRetries(); why != "" {
		return sa.State + " (" + why + ")"
	}
	if sa.State == "" {
		return "not yet submitted"
	}
	return sa.State
}
