package rule

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ApacheGroup is the API group of the Apache Spark Kubernetes Operator's
// SparkApplication.
const ApacheGroup = "spark.apache.org"

// What the tool reads of the Apache Spark Kubernetes Operator's
// SparkApplications (group spark.apache.org), as its release 1.0.0 writes
// them: spark-operator-api ApplicationStateSummary, ApplicationStatus,
// ApplicationTolerations and ModelUtils; spark-submission-worker
// SparkAppSubmissionWorker and SparkAppDriverConf.

// apacheTerminalStates are the only states after which the Apache operator
// does nothing more for an application (ApplicationStateSummary
// isTerminated). Succeeded and Failed are not among them: from there the
// operator may still schedule a restart, a new attempt.
var apacheTerminalStates = map[string]bool{"ResourceReleased": true, "TerminatedWithoutReleaseResources": true}

// apacheRunningStates are the states in which the operator says the driver
// runs: a driver Pod that has ended while the status reads one of them
// means the status is stale (the operator is down or behind).
var apacheRunningStates = map[string]bool{
	"DriverStarted": true, "DriverReady": true, "InitializedBelowThresholdExecutors": true, "RunningHealthy": true,
	"RunningWithPartialCapacity": true, "RunningWithBelowThresholdExecutors": true,
}

// The resourceRetainPolicy values (ResourceRetainPolicy); the operator's
// default is Never.
const (
	retainAlways    = "Always"
	retainOnFailure = "OnFailure"
	retainNever     = "Never"
)

// ApacheApp is what the tool reads from a spark.apache.org application
// besides what every SparkApplication gives (SparkApp).
type ApacheApp struct {
	// Attempt is status.currentAttemptSummary.attemptInfo.id (0 until the
	// operator writes one, as the operator reads it).
	Attempt int64
	// LastTransition is status.currentState.lastTransitionTime, zero when
	// absent or unreadable.
	LastTransition time.Time
	// RetainPolicy, RetainMillis and TTLMillis are
	// spec.applicationTolerations.resourceRetainPolicy,
	// resourceRetainDurationMillis and ttlAfterStopMillis, with the
	// operator's defaults (Never, -1, -1). RetainUnreadable: one of them is
	// there but not what the schema allows.
	RetainPolicy     string
	RetainMillis     int64
	TTLMillis        int64
	RetainUnreadable bool
}

// The lengths of the operator's generateSparkAppId.
const (
	apacheIDLengthLimit   = 46
	apacheHashLengthLimit = 36
)

// apacheAppID is the application id the operator gives an attempt:
// <name>-<attempt>; past 46 characters, its first 9 characters, a dash and
// the first 36 base-36 digits of the SHA-256 of "<namespace>/<name>/<attempt>".
// It is Spark's spark.app.id, the spark-app-selector label, and the prefix
// of the driver Pod, its Service and its maps.
func apacheAppID(ns, name string, attempt int64) string {
	preferred := fmt.Sprintf("%s-%d", name, attempt)
	if len(preferred) <= apacheIDLengthLimit {
		return preferred
	}
	sum := sha256.Sum256([]byte(ns + "/" + name + "/" + strconv.FormatInt(attempt, 10)))
	hash := new(big.Int).SetBytes(sum[:]).Text(36)
	if len(hash) < apacheHashLengthLimit {
		// The operator's substring would fail here and no attempt would
		// start: no id to find.
		return ""
	}
	return preferred[:apacheIDLengthLimit-apacheHashLengthLimit-1] + "-" + hash[:apacheHashLengthLimit]
}

// parseApacheApp reads a spark.apache.org SparkApplication into the
// fields every SparkApplication has and the Apache ones. Status fields the
// operator has not written yet stay empty: an empty state is not terminal.
func parseApacheApp(u *unstructured.Unstructured, a *SparkApp) {
	x := &ApacheApp{RetainMillis: -1, TTLMillis: -1}
	a.Apache = x
	a.State, _, _ = unstructured.NestedString(u.Object, "status", "currentState", "currentStateSummary")
	a.State = Shown(a.State)
	if ts, ok, _ := unstructured.NestedString(u.Object, "status", "currentState", "lastTransitionTime"); ok && ts != "" {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			x.LastTransition = t
		}
	}
	if n, ok, good := nestedCount(u.Object, "status", "currentAttemptSummary", "attemptInfo", "id"); ok && good {
		x.Attempt = n
	}
	// A spark.app.id in the application's own Spark settings wins over the
	// generated one (SparkAppSubmissionWorker sets it only when missing),
	// and so does spark.kubernetes.driver.pod.name for the driver's name.
	if id, ok, _ := unstructured.NestedString(u.Object, "spec", "sparkConf", "spark.app.id"); ok && id != "" {
		a.AppID = id
	} else if _, hasStatus, _ := unstructured.NestedMap(u.Object, "status"); hasStatus {
		a.AppID = apacheAppID(u.GetNamespace(), u.GetName(), x.Attempt)
	}
	if name, ok, _ := unstructured.NestedString(u.Object, "spec", "sparkConf", "spark.kubernetes.driver.pod.name"); ok && name != "" {
		a.DriverPod = name
	} else if a.AppID != "" {
		a.DriverPod = a.AppID + "-driver"
	}
	if apacheTerminalStates[a.State] {
		a.TerminatedAt = x.LastTransition
	}
	if v, ok, _ := unstructured.NestedString(u.Object, "spec", "sparkConf", ConfExecutorDeleteOnTermination); ok && v == "false" {
		a.ExecutorDeletionOff = true
	}
	tol := []string{"spec", "applicationTolerations"}
	if v, ok, err := unstructured.NestedFieldNoCopy(u.Object, append(tol, "resourceRetainPolicy")...); err != nil {
		x.RetainUnreadable = true
	} else if ok && v != nil {
		if s, isString := v.(string); isString {
			x.RetainPolicy = s
		} else {
			x.RetainUnreadable = true
		}
	}
	if n, ok, good := nestedCount(u.Object, append(tol, "resourceRetainDurationMillis")...); ok {
		x.RetainMillis, x.RetainUnreadable = n, x.RetainUnreadable || !good
	}
	if n, ok, good := nestedCount(u.Object, append(tol, "ttlAfterStopMillis")...); ok {
		x.TTLMillis, x.RetainUnreadable = n, x.RetainUnreadable || !good
	}
	// The maps the operator makes from spec.configMapSpecs are the user's.
	list, _, _ := unstructured.NestedSlice(u.Object, "spec", "configMapSpecs")
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			if name, ok := m["name"].(string); ok && name != "" {
				a.UserMaps[name] = "spec.configMapSpecs"
			}
		}
	}
}

// retainMillis is the retain duration the operator applies
// (computeEffectiveRetainDurationMillis): the smaller of the two that are
// not negative, or -1 when neither is set.
func (x *ApacheApp) retainMillis() int64 {
	switch {
	case x.RetainMillis < 0 && x.TTLMillis < 0:
		return -1
	case x.RetainMillis < 0:
		return x.TTLMillis
	case x.TTLMillis < 0:
		return x.RetainMillis
	}
	return min(x.RetainMillis, x.TTLMillis)
}

// RetainHold is the retain clause for an application at rest in
// TerminatedWithoutReleaseResources: the user asked the operator to keep
// its resources. With a retain duration or TTL, the operator releases them
// itself at lastTransitionTime plus that duration, and until then they
// stay. Without one they stay as long as the application exists, and only
// a sweep deletes them (forever is the leak users hit), counting its
// --older-than from lastTransitionTime: it returns overrides, the ledger's
// note for what is deleted. It returns hold, why the maps stay now ("" when
// they may go); sweep says whether the caller is a sweep.
func (x *ApacheApp) RetainHold(state string, now time.Time, sweep bool) (hold, overrides string) {
	if state != "TerminatedWithoutReleaseResources" {
		return "", ""
	}
	policy := orDefault(x.RetainPolicy, retainNever)
	if x.RetainUnreadable {
		return "its spec.applicationTolerations retain settings cannot be read: the operator may still release its resources itself", ""
	}
	if d := x.retainMillis(); d >= 0 {
		if x.LastTransition.IsZero() {
			return fmt.Sprintf("resourceRetainPolicy %s with a retain duration of %dms, but no lastTransitionTime to count it from: the operator releases its resources itself", Shown(policy), d), ""
		}
		until := x.LastTransition.Add(time.Duration(d) * time.Millisecond)
		if now.Before(until) {
			return fmt.Sprintf("resourceRetainPolicy %s with a retain duration of %dms: the operator releases its resources itself at %s", Shown(policy), d, until.UTC().Format(time.RFC3339)), ""
		}
		return "", ""
	}
	if !sweep {
		return fmt.Sprintf("resourceRetainPolicy %s without a retain duration or TTL keeps its resources as long as the application exists; only sweep --older-than deletes them", Shown(policy)), ""
	}
	if x.LastTransition.IsZero() {
		return fmt.Sprintf("resourceRetainPolicy %s without a retain duration or TTL, and no lastTransitionTime to count --older-than from", Shown(policy)), ""
	}
	return "", fmt.Sprintf("overrides resourceRetainPolicy %s (no retain duration or TTL): TerminatedWithoutReleaseResources since %s", Shown(policy), x.LastTransition.UTC().Format(time.RFC3339))
}

// RetainsForever reports an application at rest in
// TerminatedWithoutReleaseResources whose retain settings keep its
// resources as long as it exists (no retain duration, no TTL): the leak
// the operator's users hit, which the report names as its own cause.
func (x *ApacheApp) RetainsForever(state string) bool {
	return state == "TerminatedWithoutReleaseResources" && !x.RetainUnreadable && x.retainMillis() < 0
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ApacheAppID is the application id the Apache operator gives an attempt
// (see apacheAppID), for the test bed and the docs' examples.
func ApacheAppID(ns, name string, attempt int64) string { return apacheAppID(ns, name, attempt) }
