package rule

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

// View is everything known about one Spark application at the moment its
// maps are judged. Cleanup builds one from its target; sweep builds one for
// each owner it meets. Both then use the same judge.
type View struct {
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
	App     *SparkApp
	AppGone bool
	// AppGroup is the API group of the SparkApplication (which operator
	// runs it); a reference matched by name must be of this group ("" is
	// the Kubeflow operator's).
	AppGroup string
	// EarlierAttempt: the driver is an earlier attempt's of an Apache
	// operator application that has moved on to a new attempt (its
	// spark-app-selector is not the application's current id). The
	// application's state is the new attempt's and says nothing of this
	// driver's maps: they go once this driver has ended and no Pod uses
	// them.
	EarlierAttempt bool

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

// NewView is an application in namespace ns of which nothing is known yet.
func NewView(ns string) *View { return &View{Namespace: ns, IDs: map[string]bool{}} }

// AddID records one of the application's ids (spark-app-selector values).
func (a *View) AddID(id string) {
	if id != "" {
		a.IDs[id] = true
	}
}

// SortedIDs returns the application SortedIDs in a stable order.
func (a *View) SortedIDs() []string { return SortedKeys(a.IDs) }

// SetDriver records a driver Pod that exists.
func (a *View) SetDriver(p *corev1.Pod) {
	a.Driver, a.DriverName, a.DriverUID, a.DriverGone = p, p.Name, p.UID, false
	a.AddID(p.Labels[LabelAppSelector])
	a.checkAttempt()
}

// SetApp records a SparkApplication that exists.
func (a *View) SetApp(s *SparkApp) {
	a.App, a.AppName, a.AppUID, a.AppGone, a.AppGroup = s, s.Name, s.UID, false, s.Group
	a.AddID(s.AppID)
	a.checkAttempt()
}

// checkAttempt marks a driver of an earlier attempt of an Apache operator
// application: its id is not the application's current one, which then is
// no id of this view (the new attempt's Pods must not keep, nor its state
// decide, the earlier attempt's maps).
func (a *View) checkAttempt() {
	if a.App == nil || a.App.Apache == nil || a.Driver == nil {
		return
	}
	if id := a.Driver.Labels[LabelAppSelector]; id != "" && a.App.AppID != "" && id != a.App.AppID {
		a.EarlierAttempt = true
		delete(a.IDs, a.App.AppID)
	}
}

// DriverFinished reports that the driver Pod has stopped, or its driver container has
// (sidecar mode).
func (a *View) DriverFinished() bool {
	if a.Driver == nil {
		return true
	}
	if PodTerminated(a.Driver) {
		return true
	}
	return a.DriverContainer != "" && ContainerTerminated(a.Driver, a.DriverContainer) && !a.EndedAfterStop()
}

// Exempt reports the application's own driver Pod once its driver container ended
// (sidecar mode), which the sidecar keeps running.
func (a *View) Exempt(p *corev1.Pod) bool {
	return a.Driver != nil && p.UID == a.Driver.UID && a.DriverFinished()
}

// EndedAfterStop reports that, in a sidecar told to stop, the driver container's reported
// end (which the kubelet gives to the second) is later than the stop. Its
// Pod was being stopped while the application still ran.
func (a *View) EndedAfterStop() bool {
	if a.StoppedAt.IsZero() || a.Driver == nil || a.DriverContainer == "" {
		return false
	}
	end, ok := ContainerFinishedAt(a.Driver, a.DriverContainer)
	return ok && end.After(a.StoppedAt)
}

// Live says whether the application may still create or use maps, and why.
// A driver Pod that is Pending, Running or Unknown is Live; so is a
// SparkApplication in any state but COMPLETED, FAILED or SUBMISSION_FAILED
// (that last only once the operator will not submit it again), except in
// sidecar mode once the driver container has ended (the operator
// cannot see the end until the sidecar lets the Pod finish); so is any
// non-terminated Pod of the application (a client-mode driver runs outside
// the cluster: its executors are all the cluster sees of it); so is a new
// object under the same name that has not finished.
func (a *View) Live() (bool, string) {
	if a.EndedAfterStop() {
		end, _ := ContainerFinishedAt(a.Driver, a.DriverContainer)
		return true, fmt.Sprintf("driver container %s of Pod %s ended at %s, after the sidecar was told to stop at %s: it was stopped with its Pod, not finished",
			a.DriverContainer, a.Driver.Name, end.UTC().Format(time.RFC3339), a.StoppedAt.UTC().Format(time.RFC3339Nano))
	}
	if !a.DriverFinished() {
		return true, fmt.Sprintf("driver Pod %s is %s", a.Driver.Name, PhaseOf(a.Driver))
	}
	if a.StateMatters() && !a.App.Terminal() {
		why := fmt.Sprintf("SparkApplication %s is %s", a.App.Name, StateOf(a.App))
		if a.App.Apache != nil && apacheRunningStates[a.App.State] && a.Driver != nil && PodTerminated(a.Driver) {
			// The operator writes the end of a run once it sees it: a
			// status that still says running after the driver ended is
			// stale (the operator is down or behind), and it may yet
			// restart the application. The maps stay until it says.
			why += fmt.Sprintf(", though its driver Pod %s is %s: the status disagrees (the operator is down or behind)", a.Driver.Name, PhaseOf(a.Driver))
		}
		return true, why
	}
	if len(a.LivePods) > 0 {
		return true, fmt.Sprintf("Pod %s of %s=%s has not terminated", strings.Join(a.LivePods, ", "), LabelAppSelector, strings.Join(a.SortedIDs(), ","))
	}
	if a.Blocker != "" {
		return true, a.Blocker
	}
	return false, ""
}

// StateMatters reports that the SparkApplication's state is part of the verdict. Not
// in sidecar mode once the driver is known: the operator sees the driver's
// end only once the sidecar lets its Pod finish, so its state lags.
func (a *View) StateMatters() bool {
	return a.App != nil && !a.EarlierAttempt && (a.DriverContainer == "" || a.Driver == nil)
}

// RetainHold is the Apache operator's retain clause for this application
// (see ApacheApp.RetainHold): why its maps stay now ("" when they may go),
// and, for a sweep that deletes them anyway, the ledger's note that it
// overrides the retain policy. now is the API server's clock.
func (a *View) RetainHold(now time.Time, sweep bool) (hold Reason, overrides string) {
	if !a.StateMatters() || a.App.Apache == nil {
		return Reason{}, ""
	}
	why, overrides := a.App.Apache.RetainHold(a.App.State, now, sweep)
	if why == "" {
		return Reason{}, overrides
	}
	return Because(KeepRetainPolicy, why), overrides
}

// PhaseOf is a Pod's phase for a reason: Pending when unset, marked when
// the Pod is being deleted.
func PhaseOf(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return string(p.Status.Phase) + " (terminating)"
	}
	if p.Status.Phase == "" {
		return "Pending"
	}
	return string(p.Status.Phase)
}

// FinishedAt is when the application ended, where that is known: the
// SparkApplication's terminationTime, else when the driver container
// stopped. Zero means unknown.
func (a *View) FinishedAt() time.Time {
	if a.App != nil && !a.App.TerminatedAt.IsZero() {
		return a.App.TerminatedAt
	}
	if a.Driver != nil {
		return PodFinishedAt(a.Driver)
	}
	return time.Time{}
}

// PodFinishedAt is when the last of a Pod's containers stopped, or zero.
func PodFinishedAt(p *corev1.Pod) time.Time {
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

// IsDriverRef reports an ownerReference to this application's driver Pod.
func (a *View) IsDriverRef(ref metav1.OwnerReference) bool {
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

// IsAppRef reports an ownerReference to this application's SparkApplication.
func (a *View) IsAppRef(ref metav1.OwnerReference) bool {
	if !IsSparkAppRef(ref) {
		return false
	}
	if a.AppUID != "" {
		return ref.UID == a.AppUID
	}
	return a.AppGone && a.AppName != "" && ref.Name == a.AppName && groupOfRef(ref) == orDefault(a.AppGroup, KubeflowGroup)
}

func groupOfRef(ref metav1.OwnerReference) string {
	g, _, _ := strings.Cut(ref.APIVersion, "/")
	return g
}

// MatchesByName says whether any owner is matched by name alone (its UID
// unknown because it is gone): then a new object under that name, created
// while the maps were read, would be mistaken for it.
func (a *View) MatchesByName() bool {
	return (a.DriverUID == "" && a.DriverGone && a.DriverName != "") || (a.AppUID == "" && a.AppGone && a.AppName != "")
}

// Ownerless reports a map with no owner, which only its label and name tie
// to an application: Spark 3.1.0/3.1.1, and every client-mode application
// (a driver outside the cluster has no Pod to own its executor map).
func Ownerless(m *metav1.ObjectMeta) bool { return len(m.OwnerReferences) == 0 }

// Judge decides whether a map is this application's Spark-generated map,
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
func (a *View) Judge(m *metav1.ObjectMeta) (MapKind, Reason) {
	kind := KindOf(m.Name)
	if v, ok := m.Annotations[AnnotationKeep]; ok && v == "true" {
		return kind, Because(KeepAnnotation, AnnotationKeep+`: "true"`)
	}
	if a.AppsUnreadable != "" && (a.AppName != "" || a.AppUID != "" || OwnedBySparkApp(m.OwnerReferences)) {
		return kind, StateUnknown(a.AppsUnreadable)
	}
	if a.App != nil {
		if src, ok := a.App.UserMaps[m.Name]; ok {
			return kind, Because(KeepUserSupplied, "user-supplied ("+src+")")
		}
	}
	ownedByDriver, ownedByApp := false, false
	for _, ref := range m.OwnerReferences {
		switch {
		case a.IsDriverRef(ref):
			ownedByDriver = true
		case a.IsAppRef(ref):
			ownedByApp = true
		default:
			return kind, Because(KeepOtherOwner, fmt.Sprintf("has another owner (%s %s)", Shown(ref.Kind), Shown(ref.Name)))
		}
	}
	label, labelled := m.Labels[LabelAppSelector]
	if labelled && !a.IDs[label] {
		return kind, Because(KeepOtherApp, fmt.Sprintf("labelled for another application (%s=%s)", LabelAppSelector, label))
	}
	switch {
	case kind == KindNotGenerated:
		return kind, Because(KeepNotSparks, "not a name Spark generates")
	case ownedByDriver && kind != KindOperatorProm:
	case ownedByApp && kind == KindOperatorProm:
	case Ownerless(m) && kind == KindExecutorConf && labelled && m.Labels[LabelRole] == RoleExecutor:
		// Client mode and Spark 3.1.0/3.1.1 make executor maps without an
		// owner; the application's own label and Spark's generated name are
		// the evidence. Liveness then rests on the application's Pods alone
		// (see orphanRule).
	default:
		return kind, Because(KeepNotSparks, "no evidence that Spark generated it for this application")
	}
	return kind, Reason{}
}

// AgeRule is sweep's bound on time. Ages are measured on the API server's
// clock (Now) against its own stamps.
type AgeRule struct {
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

// Activity is what the Pods of one application id show: whether any
// has not terminated, and the newest time any was created or stopped.
type Activity struct {
	Live   []string
	Newest time.Time
}

// AddPod counts one Pod of the application.
func (act *Activity) AddPod(p *corev1.Pod) {
	if !PodTerminated(p) {
		act.Live = append(act.Live, p.Name)
	}
	for _, t := range []time.Time{p.CreationTimestamp.Time, PodFinishedAt(p)} {
		if t.After(act.Newest) {
			act.Newest = t
		}
	}
}

// CheckAge applies the age rule to a map already judged Spark's and not
// live. It returns the age to report and, when the map must stay, why.
func (r AgeRule) CheckAge(m *metav1.ObjectMeta, a *View, act *Activity) (time.Duration, Reason) {
	created := m.CreationTimestamp.Time
	age := r.Now.Sub(created)
	if age < r.OlderThan {
		return age, Because(KeepTooYoung, fmt.Sprintf("younger than the minimum age %s", r.OlderThan))
	}
	if a != nil {
		if end := a.FinishedAt(); !end.IsZero() {
			since := r.Now.Sub(end)
			if since < r.OlderThan {
				return min(age, since), Because(KeepTooYoung, fmt.Sprintf("application ended %s ago, less than the minimum age %s", RoundAge(since), r.OlderThan))
			}
			age = min(age, since)
		}
	}
	if Ownerless(m) {
		newest := created
		if act != nil && act.Newest.After(newest) {
			newest = act.Newest
		}
		if seen := LastActive(m); seen.After(newest) {
			newest = seen
		}
		quiet := r.Now.Sub(newest)
		if quiet < r.OrphanOlderThan {
			return min(age, quiet), Because(KeepOwnerlessQuiet, fmt.Sprintf("ownerless executor map (client mode or Spark 3.1.0/3.1.1): the application was last seen %s ago, less than the ownerless-map minimum age %s", RoundAge(quiet), r.OrphanOlderThan))
		}
		age = min(age, quiet)
	}
	return age, Reason{}
}

// LastActive is the map's AnnotationLastActive, or zero when it has none
// or one that is not an RFC 3339 time.
func LastActive(m *metav1.ObjectMeta) time.Time {
	t, err := time.Parse(time.RFC3339, m.Annotations[AnnotationLastActive])
	if err != nil {
		return time.Time{}
	}
	return t
}

// RoundAge is an age as reasons show it, to the second.
func RoundAge(d time.Duration) time.Duration { return d.Round(time.Second) }

// Shown is a string from an object, fit for a one-line reason. The API
// server validates names and labels, but not an ownerReference's kind or
// name: one holding a newline would forge a line of the text report.
func Shown(s string) string {
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// SortedKeys is the keys of a set, sorted.
func SortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Verdict is sweep's whole rule for one map, read in order: is it Spark's,
// for this application (Judge); is the application live; was the map
// written after its owners were read (the mark); is it old enough. It
// returns the map's kind, the age to report and, when the map must stay,
// why. A map with no reason goes to the re-check before its batch (Busy).
func Verdict(m *metav1.ObjectMeta, app *View, act *Activity, rule AgeRule, mark Mark) (MapKind, time.Duration, Reason) {
	age := rule.Now.Sub(m.CreationTimestamp.Time)
	kind, reason := app.Judge(m)
	if !reason.Keeps() {
		if isLive, why := app.Live(); isLive {
			reason = Running(why)
		}
	}
	if !reason.Keeps() {
		reason, _ = app.RetainHold(rule.Now, true)
	}
	if !reason.Keeps() && mark.ChangedSince(m) {
		reason = Because(KeepChanged, "created or changed after its owners were read; judged on the next run")
	}
	if !reason.Keeps() {
		age, reason = rule.CheckAge(m, app, act)
	}
	return kind, age, reason
}

// Busy is the re-check's verdict on map ns/name from a fresh read of the
// Pods that have not terminated: a Pod uses the map (used), or a Pod of
// one of its application ids runs now (live, keyed by NsKey(ns, id)). It
// returns why the map must stay, or "".
func Busy(ns, name string, appIDs []string, used RefIndex, live map[string][]string) Reason {
	if users := used.UsedBy(ns, name); len(users) > 0 {
		return UsedByReason(users)
	}
	for _, id := range appIDs {
		if pods := live[NsKey(ns, id)]; len(pods) > 0 {
			return Running(fmt.Sprintf("Pod %s of %s=%s has not terminated", strings.Join(pods, ", "), LabelAppSelector, id))
		}
	}
	return Reason{}
}

// UsedByReason is the reason to keep a map the Pods users use.
func UsedByReason(users []PodRef) Reason {
	parts := make([]string, 0, len(users))
	for _, u := range users {
		parts = append(parts, fmt.Sprintf("%s (%s)", u.Name, u.Phase))
	}
	return Because(KeepInUse, "in use by Pod "+strings.Join(parts, ", "))
}

// NsKey is the key of a namespaced name in the rule's indexes.
func NsKey(ns, name string) string { return ns + "/" + name }

// KubeflowGroup is the API group of the Kubeflow Spark Operator's
// SparkApplication.
const KubeflowGroup = "sparkoperator.k8s.io"

// IsSparkAppRef reports an ownerReference to a SparkApplication of either
// operator (Kubeflow or Apache), in any version of its group.
func IsSparkAppRef(ref metav1.OwnerReference) bool {
	return ref.Kind == "SparkApplication" && (strings.HasPrefix(ref.APIVersion, KubeflowGroup+"/") || strings.HasPrefix(ref.APIVersion, ApacheGroup+"/"))
}

// OwnedBySparkApp reports a map with a SparkApplication among its owners.
func OwnedBySparkApp(refs []metav1.OwnerReference) bool {
	for _, ref := range refs {
		if IsSparkAppRef(ref) {
			return true
		}
	}
	return false
}
