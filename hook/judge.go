package hook

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// appView is everything known about one Spark application at the moment its
// maps are judged. Cleanup builds one from its target; sweep builds one for
// each owner it meets. Both then use the same judge.
type appView struct {
	Namespace string
	IDs       map[string]bool // spark application ids (spark-app-selector values)

	// The driver Pod. Driver is nil when it is gone or unknown; then
	// DriverGone says whether ownerReferences that name it (by name, or by
	// DriverUID) may be trusted as "owned by this application's driver".
	DriverName string
	DriverUID  types.UID
	Driver     *corev1.Pod
	DriverGone bool
	// DriverContainer, when set, makes a driver whose container of that name
	// terminated count as finished even while its Pod still runs (a sidecar
	// keeps it running).
	DriverContainer string

	// The SparkApplication, when the Spark Operator is involved. App is nil
	// when it is gone or unknown; AppGone says whether ownerReferences that
	// name AppName may be trusted.
	AppName string
	App     *sparkApp
	AppGone bool
}

func newAppView(ns string) *appView { return &appView{Namespace: ns, IDs: map[string]bool{}} }

func (a *appView) addID(id string) {
	if id != "" {
		a.IDs[id] = true
	}
}

// ids returns the application ids in a stable order.
func (a *appView) ids() []string { return sortedKeys(a.IDs) }

// setDriver records a driver Pod that exists.
func (a *appView) setDriver(p *corev1.Pod) {
	a.Driver, a.DriverName, a.DriverUID, a.DriverGone = p, p.Name, p.UID, false
	a.addID(p.Labels[LabelAppSelector])
}

// setApp records a SparkApplication that exists.
func (a *appView) setApp(s *sparkApp) {
	a.App, a.AppName, a.AppGone = s, s.Name, false
	a.addID(s.AppID)
}

// driverFinished: the driver Pod has stopped, or its driver container has
// (sidecar mode).
func (a *appView) driverFinished() bool {
	if a.Driver == nil {
		return true
	}
	if podTerminated(a.Driver) {
		return true
	}
	return a.DriverContainer != "" && containerTerminated(a.Driver, a.DriverContainer)
}

// live says whether the application may still create or use maps, and why.
// A driver Pod that is Pending, Running or Unknown is live; so is a
// SparkApplication in any state but COMPLETED, FAILED or SUBMISSION_FAILED,
// except in sidecar mode once the driver container has ended (the operator
// cannot see the end until the sidecar lets the Pod finish).
func (a *appView) live() (bool, string) {
	if !a.driverFinished() {
		return true, fmt.Sprintf("driver Pod %s is %s", a.Driver.Name, phaseOf(a.Driver))
	}
	sidecarDone := a.DriverContainer != "" && a.Driver != nil
	if a.App != nil && !a.App.terminal() && !sidecarDone {
		state := a.App.State
		if state == "" {
			state = "not yet submitted"
		}
		return true, fmt.Sprintf("SparkApplication %s is %s", a.App.Name, state)
	}
	return false, ""
}

func phaseOf(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return string(p.Status.Phase) + " (terminating)"
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

// finishedAt is when the application ended, where that is known: the
// SparkApplication's terminationTime, else when the driver container
// stopped. Zero means unknown.
func (a *appView) finishedAt() time.Time {
	if a.App != nil && !a.App.TerminatedAt.IsZero() {
		return a.App.TerminatedAt
	}
	if a.Driver != nil {
		var last time.Time
		for _, s := range a.Driver.Status.ContainerStatuses {
			if t := s.State.Terminated; t != nil && t.FinishedAt.After(last) {
				last = t.FinishedAt.Time
			}
		}
		return last
	}
	return time.Time{}
}

func (a *appView) isDriverRef(ref metav1.OwnerReference) bool {
	if ref.Kind != "Pod" || ref.APIVersion != "v1" {
		return false
	}
	if a.DriverUID != "" && ref.UID == a.DriverUID {
		return true
	}
	// The driver Pod is gone: only then can a map's owner be matched by the
	// name the caller gave (its UID is no longer there to compare).
	return a.DriverGone && a.DriverName != "" && ref.Name == a.DriverName
}

func (a *appView) isAppRef(ref metav1.OwnerReference) bool {
	if ref.Kind != "SparkApplication" || !strings.HasPrefix(ref.APIVersion, SparkApplicationGVR.Group+"/") {
		return false
	}
	if a.App != nil && ref.UID == a.App.UID {
		return true
	}
	return a.AppGone && a.AppName != "" && ref.Name == a.AppName
}

// judge decides whether a map is this application's Spark-generated map,
// without regard to liveness, use or age. It returns the kind and, when the
// map must be kept, the reason. Only positive evidence lets a map through:
//   - owned by this application's driver Pod and named as Spark names its
//     driver, executor, pod-template, Hadoop or krb5 maps;
//   - owned by this application's SparkApplication and named <app>-prom-conf;
//   - with no owner at all (Spark before 3.1.2), an executor map named
//     spark-exec-<hex>-conf-map labelled spark-app-selector=<this id> and
//     spark-role=executor.
//
// Kept whatever else holds: sparkcm-hook/keep: "true", a map the
// SparkApplication names as user-supplied, a map with any other owner, a map
// labelled for another application.
func (a *appView) judge(m *metav1.ObjectMeta) (MapKind, string) {
	kind := KindOf(m.Name)
	if v, ok := m.Annotations[AnnotationKeep]; ok && v == "true" {
		return kind, AnnotationKeep + `: "true"`
	}
	if a.App != nil {
		if src, ok := a.App.UserMaps[m.Name]; ok {
			return kind, "user-supplied (" + src + ")"
		}
	}
	ownedByDriver, ownedByApp := false, false
	for _, ref := range m.OwnerReferences {
		switch {
		case a.isDriverRef(ref):
			ownedByDriver = true
		case a.isAppRef(ref):
			ownedByApp = true
		default:
			return kind, fmt.Sprintf("has another owner (%s %s)", ref.Kind, ref.Name)
		}
	}
	label, labelled := m.Labels[LabelAppSelector]
	if labelled && !a.IDs[label] {
		return kind, fmt.Sprintf("labelled for another application (%s=%s)", LabelAppSelector, label)
	}
	switch {
	case kind == KindNotGenerated:
		return kind, "not a name Spark generates"
	case ownedByDriver && kind != KindOperatorProm:
	case ownedByApp && kind == KindOperatorProm:
	case len(m.OwnerReferences) == 0 && kind == KindExecutorConf && labelled && m.Labels[LabelRole] == RoleExecutor:
		// Spark 3.1.0/3.1.1 made executor maps without an owner; the
		// application's own label and Spark's generated name are the evidence.
	default:
		return kind, "no evidence that Spark generated it for this application"
	}
	return kind, ""
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
