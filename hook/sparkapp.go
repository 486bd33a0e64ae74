package hook

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// Terminal SparkApplication states (status.applicationState.state). Every
// other state, the empty one included, means the application may still
// create or use its maps.
var terminalStates = map[string]bool{"COMPLETED": true, "FAILED": true, "SUBMISSION_FAILED": true}

// sparkApp is what the tool reads from a SparkApplication.
type sparkApp struct {
	Name          string
	UID           types.UID
	State         string
	AppID         string    // status.sparkApplicationId
	DriverPod     string    // status.driverInfo.podName
	TerminatedAt  time.Time // status.terminationTime, zero if unknown
	UserMaps      map[string]string
	SubmissionID  string
	CreationStamp time.Time
}

func (a *sparkApp) terminal() bool { return terminalStates[a.State] }

// parseSparkApp reads the fields that matter from an unstructured
// SparkApplication. Missing fields stay empty: the operator fills status in
// steps, and an old operator may not set all of it.
func parseSparkApp(u *unstructured.Unstructured) *sparkApp {
	a := &sparkApp{
		Name:          u.GetName(),
		UID:           u.GetUID(),
		UserMaps:      map[string]string{},
		CreationStamp: u.GetCreationTimestamp().Time,
	}
	a.State, _, _ = unstructured.NestedString(u.Object, "status", "applicationState", "state")
	// Status is not validated: a state that is no state name is shown
	// quoted in reasons (it is not terminal either way).
	a.State = shown(a.State)
	a.AppID, _, _ = unstructured.NestedString(u.Object, "status", "sparkApplicationId")
	a.DriverPod, _, _ = unstructured.NestedString(u.Object, "status", "driverInfo", "podName")
	a.SubmissionID, _, _ = unstructured.NestedString(u.Object, "status", "submissionID")
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
	return a
}
