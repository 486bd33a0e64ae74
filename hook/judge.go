package hook

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

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

	// The driver Pod. Driver is nil when it is gone or unknown. DriverUID,
	// when known, is the only way a map's ownerReference is matched to it,
	// also after the Pod is gone; only when the UID is unknown and
	// DriverGone says the Pod is gone is a reference matched by DriverName.
	DriverName string
	DriverUID  types.UID
	Driver     *corev1.Pod
	DriverGone bool
	// DriverContainer, when set, makes a driver whose container of that name
	// terminated count as finished even while its Pod still runs (a sidecar
	// keeps it running).
	DriverContainer string
	// StoppedAt, when set, is when a sidecar was told to stop (SIGTERM): a
	// driver container that ended only after it was stopped together with
	// the Pod, and does not count as finished.
	StoppedAt time.Time

	// The SparkApplication, when the Spark Operator is involved. App is nil
	// when it is gone or unknown; AppUID is its UID when known (from the
	// driver's ownerReference once it is gone) and then the only way to
	// match it; otherwise AppGone lets references be matched by AppName.
	AppName string
	AppUID  types.UID
	App     *sparkApp
	AppGone bool

	// LivePods are the non-terminated Pods labelled with one of IDs (the
	// driver in sidecar mode once its container ended aside): any of them
	// means the application still runs, whatever else is known.
	LivePods []string
	// Blocker, when set, is why the application must count as live though
	// nothing of its own says so: a new object under the same name that
	// is not finished (an Airflow retry without a random suffix).
	Blocker string
	// AppsUnreadable, when set, is why no SparkApplication could be read
	// (its CRD is installed but not served in a version the tool reads):
	// a map of an application the operator runs is then kept, since its
	// state cannot be known.
	AppsUnreadable string
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
	a.App, a.AppName, a.AppUID, a.AppGone = s, s.Name, s.UID, false
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
	return a.DriverContainer != "" && containerTerminated(a.Driver, a.DriverContainer) && !a.endedAfterStop()
}

// endedAfterStop: in a sidecar told to stop, the driver container's reported
// end (which the kubelet gives to the second) is later than the stop. Its
// Pod was being stopped while the application still ran.
func (a *appView) endedAfterStop() bool {
	if a.StoppedAt.IsZero() || a.Driver == nil || a.DriverContainer == "" {
		return false
	}
	end, ok := containerFinishedAt(a.Driver, a.DriverContainer)
	return ok && end.After(a.StoppedAt)
}

// live says whether the application may still create or use maps, and why.
// A driver Pod that is Pending, Running or Unknown is live; so is a
// SparkApplication in any state but COMPLETED, FAILED or SUBMISSION_FAILED
// (that last only once the operator will not submit it again), except in
// sidecar mode once the driver container has ended (the operator
// cannot see the end until the sidecar lets the Pod finish); so is any
// non-terminated Pod of the application (a client-mode driver runs outside
// the cluster: its executors are all the cluster sees of it); so is a new
// object under the same name that has not finished.
func (a *appView) live() (bool, string) {
	if a.endedAfterStop() {
		end, _ := containerFinishedAt(a.Driver, a.DriverContainer)
		return true, fmt.Sprintf("driver container %s of Pod %s ended at %s, after the sidecar was told to stop at %s: it was stopped with its Pod, not finished",
			a.DriverContainer, a.Driver.Name, end.UTC().Format(time.RFC3339), a.StoppedAt.UTC().Format(time.RFC3339Nano))
	}
	if !a.driverFinished() {
		return true, fmt.Sprintf("driver Pod %s is %s", a.Driver.Name, phaseOf(a.Driver))
	}
	if a.stateMatters() && !a.App.terminal() {
		return true, fmt.Sprintf("SparkApplication %s is %s", a.App.Name, stateOf(a.App))
	}
	if len(a.LivePods) > 0 {
		return true, fmt.Sprintf("Pod %s of %s=%s has not terminated", strings.Join(a.LivePods, ", "), LabelAppSelector, strings.Join(a.ids(), ","))
	}
	if a.Blocker != "" {
		return true, a.Blocker
	}
	return false, ""
}

// stateMatters: the SparkApplication's state is part of the verdict. Not
// in sidecar mode once the driver is known: the operator sees the driver's
// end only once the sidecar lets its Pod finish, so its state lags.
func (a *appView) stateMatters() bool {
	return a.App != nil && (a.DriverContainer == "" || a.Driver == nil)
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
		return podFinishedAt(a.Driver)
	}
	return time.Time{}
}

// podFinishedAt is when the last of a Pod's containers stopped, or zero.
func podFinishedAt(p *corev1.Pod) time.Time {
	var last time.Time
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			if t := s.State.Terminated; t != nil && t.FinishedAt.After(last) {
				last = t.FinishedAt.Time
			}
		}
	}
	return last
}

func (a *appView) isDriverRef(ref metav1.OwnerReference) bool {
	if ref.Kind != "Pod" || ref.APIVersion != "v1" {
		return false
	}
	if a.DriverUID != "" {
		return ref.UID == a.DriverUID
	}
	// The driver Pod is gone and its UID was never seen: only then can a
	// map's owner be matched by the name the caller gave.
	return a.DriverGone && a.DriverName != "" && ref.Name == a.DriverName
}

func (a *appView) isAppRef(ref metav1.OwnerReference) bool {
	if ref.Kind != "SparkApplication" || !strings.HasPrefix(ref.APIVersion, SparkApplicationGVR.Group+"/") {
		return false
	}
	if a.AppUID != "" {
		return ref.UID == a.AppUID
	}
	return a.AppGone && a.AppName != "" && ref.Name == a.AppName
}

// matchesByName says whether any owner is matched by name alone (its UID
// unknown because it is gone): then a new object under that name, created
// while the maps were read, would be mistaken for it.
func (a *appView) matchesByName() bool {
	return (a.DriverUID == "" && a.DriverGone && a.DriverName != "") || (a.AppUID == "" && a.AppGone && a.AppName != "")
}

// ownerless reports a map with no owner, which only its label and name tie
// to an application: Spark 3.1.0/3.1.1, and every client-mode application
// (a driver outside the cluster has no Pod to own its executor map).
func ownerless(m *metav1.ObjectMeta) bool { return len(m.OwnerReferences) == 0 }

// judge decides whether a map is this application's Spark-generated map,
// without regard to liveness, use or age. It returns the kind and, when the
// map must be kept, the reason. Only positive evidence lets a map through:
//   - owned by this application's driver Pod and named as Spark names its
//     driver, executor, pod-template, Hadoop or krb5 maps;
//   - owned by this application's SparkApplication and named <app>-prom-conf;
//   - with no owner at all (client mode, or Spark 3.1.0/3.1.1), an executor
//     map named spark-exec-<hex>-conf-map labelled spark-app-selector=<this
//     id> and spark-role=executor.
//
// Kept whatever else holds: sparkcm-hook/keep: "true", a map the
// SparkApplication names as user-supplied, a map with any other owner, a map
// labelled for another application.
func (a *appView) judge(m *metav1.ObjectMeta) (MapKind, string) {
	kind := KindOf(m.Name)
	if v, ok := m.Annotations[AnnotationKeep]; ok && v == "true" {
		return kind, AnnotationKeep + `: "true"`
	}
	if a.AppsUnreadable != "" && (a.AppName != "" || a.AppUID != "" || ownedBySparkApp(m.OwnerReferences)) {
		return kind, "its SparkApplication's state cannot be known: " + a.AppsUnreadable
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
			return kind, fmt.Sprintf("has another owner (%s %s)", shown(ref.Kind), shown(ref.Name))
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
	case ownerless(m) && kind == KindExecutorConf && labelled && m.Labels[LabelRole] == RoleExecutor:
		// Client mode and Spark 3.1.0/3.1.1 make executor maps without an
		// owner; the application's own label and Spark's generated name are
		// the evidence. Liveness then rests on the application's Pods alone
		// (see orphanRule).
	default:
		return kind, "no evidence that Spark generated it for this application"
	}
	return kind, ""
}

// ageRule is sweep's bound on time. Ages are measured on the API server's
// clock (Now) against its own stamps.
type ageRule struct {
	Now time.Time
	// OlderThan bounds both the map's own age and, where known, the time
	// since the application ended: a SparkApplication restored with an old
	// status must not make its fresh maps deletable.
	OlderThan time.Duration
	// OrphanOlderThan bounds an ownerless executor map: nothing in the
	// cluster proves that a client-mode application finished, so the map,
	// and every Pod the application ever had, must have been quiet this
	// long.
	OrphanOlderThan time.Duration
}

// appActivity is what the Pods of one application id show: whether any
// has not terminated, and the newest time any was created or stopped.
type appActivity struct {
	Live   []string
	Newest time.Time
}

func (act *appActivity) addPod(p *corev1.Pod) {
	if !podTerminated(p) {
		act.Live = append(act.Live, p.Name)
	}
	for _, t := range []time.Time{p.CreationTimestamp.Time, podFinishedAt(p)} {
		if t.After(act.Newest) {
			act.Newest = t
		}
	}
}

// checkAge applies the age rule to a map already judged Spark's and not
// live. It returns the age to report and, when the map must stay, why.
func (r ageRule) checkAge(m *metav1.ObjectMeta, a *appView, act *appActivity) (time.Duration, string) {
	created := m.CreationTimestamp.Time
	age := r.Now.Sub(created)
	if age < r.OlderThan {
		return age, fmt.Sprintf("younger than the minimum age %s", r.OlderThan)
	}
	if a != nil {
		if end := a.finishedAt(); !end.IsZero() {
			since := r.Now.Sub(end)
			if since < r.OlderThan {
				return min(age, since), fmt.Sprintf("application ended %s ago, less than the minimum age %s", roundAge(since), r.OlderThan)
			}
			age = min(age, since)
		}
	}
	if ownerless(m) {
		newest := created
		if act != nil && act.Newest.After(newest) {
			newest = act.Newest
		}
		quiet := r.Now.Sub(newest)
		if quiet < r.OrphanOlderThan {
			return min(age, quiet), fmt.Sprintf("ownerless executor map (client mode or Spark 3.1.0/3.1.1): the application was last seen %s ago, less than the ownerless-map minimum age %s", roundAge(quiet), r.OrphanOlderThan)
		}
		age = min(age, quiet)
	}
	return age, ""
}

func roundAge(d time.Duration) time.Duration { return d.Round(time.Second) }

// shown is a string from an object, fit for a one-line reason. The API
// server validates names and labels, but not an ownerReference's kind or
// name: one holding a newline would forge a line of the text report.
func shown(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
