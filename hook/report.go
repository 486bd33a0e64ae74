package hook

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"hash/fnv"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// Cause is why a ConfigMap is still there: the one setting (or its
// absence) that left it behind. Each has a remedy (see InfoOf).
type Cause string

// The causes, in the order the report lists them.
const (
	// CauseNoTTL: the SparkApplication has no spec.timeToLiveSeconds, so it
	// stays, and with it its finished driver Pod and every map that Pod owns.
	CauseNoTTL Cause = "no-ttl"
	// CauseRetainPolicy: an Apache operator application at rest in
	// TerminatedWithoutReleaseResources whose resourceRetainPolicy (Always,
	// or OnFailure after a failure) has no retain duration or TTL: its
	// driver Pod and every map stay as long as it exists.
	CauseRetainPolicy Cause = "retain-policy"
	// CauseDriverPodKept: a finished driver Pod of plain spark-submit (no
	// operator) is still there; Spark never deletes it, and its maps go only
	// with it.
	CauseDriverPodKept Cause = "driver-pod-kept"
	// CauseNoOwner: the map has no owner at all (client mode, Spark
	// 3.1.0/3.1.1, an operator that set none): the garbage collector never
	// removes it.
	CauseNoOwner Cause = "no-owner"
	// CauseUserSupplied: a SparkApplication names the map as its own
	// (spec.sparkConfigMap, hadoopConfigMap, configMaps); it has no owner,
	// so the garbage collector never removes it, and sweep never deletes it.
	CauseUserSupplied Cause = "user-supplied"
	// CauseExecutorDeletionOff: spark.kubernetes.executor.deleteOnTermination
	// is false: Spark leaves its executor map when the application stops.
	CauseExecutorDeletionOff Cause = "executor-deletion-off"
	// CauseTTLNotDue: the SparkApplication has a TTL that has not run out.
	CauseTTLNotDue Cause = "ttl-not-due"
	// CauseOwnerGone: the owner was deleted and the garbage collector has
	// not removed the map (it lags, or the owner went with
	// --cascade=orphan).
	CauseOwnerGone Cause = "owner-gone"
	// CauseRunning: the application still runs; not a leftover yet.
	CauseRunning Cause = "running"
	// CauseStateUnknown: the SparkApplications cannot be read in a version
	// this tool knows.
	CauseStateUnknown Cause = "state-unknown"
	// CauseNotSparks: it looks like Spark's but no Spark owner of one
	// application ties it to one (another owner, another application's
	// label): never deleted.
	CauseNotSparks Cause = "not-sparks"
)

// CauseInfo says what a cause means and how to remove it.
type CauseInfo struct {
	Cause   Cause  `json:"cause"`
	Title   string `json:"title"`
	Remedy  string `json:"remedy"`
	Example string `json:"example,omitempty"`
}

// causeInfos are the causes in report order, each with its remedy: the
// field to set, with a one-line example.
var causeInfos = []CauseInfo{
	{CauseNoTTL, "SparkApplication without spec.timeToLiveSeconds: it, its finished driver Pod and every map the Pod owns stay",
		"set spec.timeToLiveSeconds on the SparkApplication", "spec: {timeToLiveSeconds: 3600}"},
	{CauseRetainPolicy, "Apache operator application kept by resourceRetainPolicy (Always, or OnFailure after a failure) without a retain duration or TTL: its driver Pod and every map stay as long as it exists",
		"give the retain policy a duration (or ttlAfterStopMillis), or let it release: resourceRetainPolicy Never",
		"spec: {applicationTolerations: {resourceRetainPolicy: OnFailure, resourceRetainDurationMillis: 86400000}}"},
	{CauseDriverPodKept, "finished driver Pod kept (spark-submit without the operator): Spark never deletes it, and its maps go only with it",
		"delete the driver Pod when the job ends (the job's teardown step)", "sparkcm-hook cleanup --app-id APP_ID"},
	{CauseNoOwner, "map with no owner at all (client mode, Spark 3.1.0/3.1.1, an operator that set none): the garbage collector never removes it",
		"run the driver in a Pod named in spark.kubernetes.driver.pod.name, on Spark 3.1.2 or later, so the driver owns the executor map", "--conf spark.kubernetes.driver.pod.name=$HOSTNAME"},
	{CauseUserSupplied, "user-supplied map (spec.sparkConfigMap, hadoopConfigMap, configMaps, volumes) without an ownerReference: the garbage collector never removes it, sweep never deletes it",
		"give it an ownerReference to every SparkApplication that uses it (sparkcm-hook adopt does, and says why where it will not)",
		"sparkcm-hook adopt -n NAMESPACE --apply"},
	{CauseExecutorDeletionOff, "executor deletion turned off: Spark leaves the executor map when the application stops",
		"leave " + rule.ConfExecutorDeleteOnTermination + " at its default, true", `sparkConf: {"` + rule.ConfExecutorDeleteOnTermination + `": "true"}`},
	{CauseTTLNotDue, "SparkApplication whose TTL has not run out: the operator deletes it, and the garbage collector its maps, when it does",
		"nothing to fix; a shorter TTL removes them sooner", "spec: {timeToLiveSeconds: 600}"},
	{CauseOwnerGone, "owner deleted but the map not yet collected (the garbage collector lags, or the owner was deleted with --cascade=orphan)",
		"delete owners with the default cascade; sweep removes these", "kubectl delete pod DRIVER_POD --cascade=background"},
	{CauseRunning, "application still running: not a leftover yet", "nothing to fix", ""},
	{CauseStateUnknown, "the SparkApplications cannot be read in a version this tool knows: their maps are kept",
		"let this identity get and list sparkapplications, or use a sparkcm-hook that reads their version", ""},
	{CauseNotSparks, "Spark-like name or label but no Spark owner of one application (another owner, another application's label): never deleted",
		"nothing to fix; delete it by hand if nobody needs it", ""},
}

// InfoOf is the description and remedy of a cause.
func InfoOf(c Cause) CauseInfo {
	for _, i := range causeInfos {
		if i.Cause == c {
			return i
		}
	}
	return CauseInfo{Cause: c, Title: string(c)}
}

// origin is what sweep saw of where a map came from, kept on its entry
// for the report.
type origin struct {
	age             time.Duration // since the map was created, on the server's clock
	ownerless       bool
	userSource      string // where a SparkApplication names it as user-supplied
	app             bool   // its SparkApplication exists
	ttl             bool   // ... with spec.timeToLiveSeconds
	apache          bool   // ... of the Apache operator
	retainForever   bool   // ... which its retain policy keeps for as long as it exists
	execDeletionOff bool   // ... with executor deletion turned off
	driverKept      bool   // its driver Pod exists
	ownerGone       bool   // an owner it names is gone
	live            bool   // its application runs
	appsUnreadable  bool
	tied            bool // some owner or label ties it to one application
}

// originOf reads, from what judging a map saw, where the map came from.
func originOf(m *metav1.ObjectMeta, app *rule.View) origin {
	o := origin{ownerless: rule.Ownerless(m)}
	if app == nil {
		return o
	}
	if app.App != nil {
		o.app, o.ttl, o.execDeletionOff = true, app.App.HasTTL, app.App.ExecutorDeletionOff
		o.userSource = app.App.UserMaps[m.Name]
		if x := app.App.Apache; x != nil {
			o.apache, o.retainForever = true, x.RetainsForever(app.App.State)
		}
	}
	o.driverKept = app.Driver != nil
	o.ownerGone = (app.DriverGone && app.Driver == nil) || app.AppGone
	o.live, _ = app.Live()
	o.appsUnreadable = app.AppsUnreadable != ""
	o.tied = len(app.IDs) > 0 || app.Driver != nil || app.App != nil || o.ownerGone
	return o
}

// causeOf attributes a decided map to the one cause that left it there.
// The more particular cause wins: a user's map is the user's whatever its
// application does; an executor map left by executor deletion turned off
// would be gone without that setting, TTL or not.
func causeOf(e Entry) Cause {
	o := e.origin
	switch {
	case o.userSource != "" || e.Keep == rule.KeepUserSupplied:
		return CauseUserSupplied
	case o.live || e.Keep == rule.KeepRunning:
		return CauseRunning
	case o.appsUnreadable:
		return CauseStateUnknown
	case o.ownerless:
		return CauseNoOwner
	case o.app && e.Kind == rule.KindExecutorConf && o.execDeletionOff:
		return CauseExecutorDeletionOff
	case o.apache && o.retainForever:
		return CauseRetainPolicy
	case o.apache && o.driverKept:
		// The operator releases them itself: its retain duration has not
		// run out, or it is releasing now (timeToLiveSeconds is Kubeflow's).
		return CauseTTLNotDue
	case o.apache:
		return CauseOwnerGone
	case o.app && !o.ttl:
		return CauseNoTTL
	case o.app:
		return CauseTTLNotDue
	case o.driverKept:
		return CauseDriverPodKept
	case o.ownerGone:
		return CauseOwnerGone
	}
	return CauseNotSparks
}

// KeepReason is the kind of reason sweep keeps a map for: the rule's
// (rule.Keep), or KeepOther.
type KeepReason = rule.Keep

// KeepOther counts maps kept for a reason the rule gives no kind: none
// today (TestTheDeletionRule holds every reason to one), so a row of it in
// a report is a defect to report.
const KeepOther KeepReason = "other"

// keptReason is the kind of reason the entry was kept for.
func keptReason(e Entry) KeepReason {
	if e.Keep == "" {
		return KeepOther
	}
	return e.Keep
}

// keepTitle is what the report prints for a kind of reason.
func keepTitle(r KeepReason) string {
	switch r {
	case rule.KeepRunning:
		return "application still running"
	case rule.KeepInUse:
		return "in use by a Pod that has not terminated"
	case rule.KeepTooYoung:
		return "younger than --older-than, or ended less than --older-than ago"
	case rule.KeepOwnerlessQuiet:
		return "ownerless, its application seen less than --orphan-older-than ago"
	case rule.KeepRetainPolicy:
		return "the Apache operator's resourceRetainPolicy keeps it"
	case rule.KeepChanged:
		return "written after its owners were read: judged on the next run"
	case rule.KeepAnnotation:
		return rule.AnnotationKeep + ": \"true\""
	case rule.KeepUserSupplied:
		return "user-supplied: never deleted"
	case rule.KeepOtherOwner:
		return "has another owner"
	case rule.KeepOtherApp:
		return "labelled for another application"
	case rule.KeepNotSparks:
		return "no evidence Spark generated it for one application"
	case rule.KeepStateUnknown:
		return "its SparkApplication cannot be read"
	}
	return "other"
}

// ReportOptions configures Report. The scope and the age bounds mean what
// they mean to Sweep: the report says what that sweep would do.
type ReportOptions struct {
	Namespace         string
	Namespaces        []string
	AllNamespaces     bool
	ExcludeNamespaces []string
	OlderThan         time.Duration
	OrphanOlderThan   time.Duration
	PageSize          int64
	Retry             RetryPolicy
	// Sizes adds each map's bytes (data, binaryData and their keys): the
	// ConfigMaps are listed once more in full, page by page, each page
	// measured and dropped.
	Sizes bool
	// TopApps is how many applications the report names, those with the
	// most maps first (default 10).
	TopApps int
	// Each, when set, is told every map sweep decided, with its cause, as
	// it is decided (never concurrently).
	Each func(Entry, Cause)
	Now  func() time.Time
}

// Tally counts maps: all of them, those a sweep would delete now, those it
// keeps and those it could not decide; with sizes, their bytes.
type Tally struct {
	Maps        int   `json:"maps"`
	WouldDelete int   `json:"wouldDelete"`
	Kept        int   `json:"kept"`
	Failed      int   `json:"failed"`
	Bytes       int64 `json:"bytes,omitempty"`
}

func (t *Tally) add(e Entry, size int64) {
	t.Maps++
	t.Bytes += size
	switch e.Decision {
	case WouldDelete, Deleted:
		t.WouldDelete++
	case Failed:
		t.Failed++
	default:
		t.Kept++
	}
}

// Row is one line of a breakdown.
type Row struct {
	Key string `json:"key"`
	Tally
}

// CauseRow is one cause with its remedy and its maps.
type CauseRow struct {
	CauseInfo
	Tally
}

// KeptRow is one reason sweep keeps maps for, and how many.
type KeptRow struct {
	Reason KeepReason `json:"reason"`
	Title  string     `json:"title"`
	Maps   int        `json:"maps"`
	Bytes  int64      `json:"bytes,omitempty"`
}

// AppRow is one application's maps.
type AppRow struct {
	Namespace string `json:"namespace"`
	AppID     string `json:"appId"`
	Cause     Cause  `json:"cause"`
	Tally
}

// BigMapBytes is the size from which the report counts a map as big: far
// above what Spark's own properties take (a few KiB), so what makes it big
// is files shipped in it.
const BigMapBytes = 256 << 10

// BigMaps counts the big maps and says how to stop making them.
type BigMaps struct {
	Tally
	Threshold int64  `json:"thresholdBytes"`
	Title     string `json:"title"`
	Remedy    string `json:"remedy"`
	Example   string `json:"example"`
}

func newBigMaps() *BigMaps {
	return &BigMaps{Threshold: BigMapBytes,
		Title:   "local files shipped in Spark's maps (the contents of SPARK_CONF_DIR or HADOOP_CONF_DIR, a large pod template): each copy is kept in etcd for as long as the map",
		Remedy:  "keep those folders to configuration; ship data and dependencies through object storage (spark.kubernetes.file.upload.path) or bake them into the image",
		Example: "--conf spark.kubernetes.file.upload.path=s3a://BUCKET/spark-uploads"}
}

// ReportResult is the backlog at a glance: every map sweep considers,
// counted per namespace, kind, age, cause and application, and what sweep
// would do with it. It holds counts only.
type ReportResult struct {
	Scope           string     `json:"scope"`
	OlderThan       string     `json:"olderThan"`
	OrphanOlderThan string     `json:"orphanOlderThan"`
	Sizes           bool       `json:"sizes"`
	Total           Tally      `json:"total"`
	Causes          []CauseRow `json:"causes"`
	Kept            []KeptRow  `json:"kept"`
	Namespaces      []Row      `json:"namespaces"`
	Kinds           []Row      `json:"kinds"`
	Ages            []Row      `json:"ages"`
	TopApps         []AppRow   `json:"topApps"`
	// Applications is how many applications the maps belong to.
	Applications int `json:"applications"`
	// UserMaps are the user-supplied maps sweep never considers (nothing
	// about them looks like Spark's): counted here, never deleted.
	UserMaps Tally `json:"userMapsNotConsidered"`
	// BigMaps, with Sizes, are the maps of BigMapBytes or more, whatever
	// left them: what makes a backlog costly in etcd, and a fix of its own.
	BigMaps    *BigMaps        `json:"bigMaps,omitempty"`
	Unreadable []NamespaceNote `json:"unreadableNamespaces,omitempty"`
	Seconds    float64         `json:"seconds"`
}

// ageBuckets are the report's ages, each up to (not including) its bound.
var ageBuckets = []struct {
	key   string
	below time.Duration
}{
	{"<1h", time.Hour}, {"1h-1d", 24 * time.Hour}, {"1d-7d", 7 * 24 * time.Hour}, {"7d-30d", 30 * 24 * time.Hour}, {">=30d", 1<<63 - 1},
}

func ageBucket(d time.Duration) string {
	for _, b := range ageBuckets {
		if d < b.below {
			return b.key
		}
	}
	return ageBuckets[len(ageBuckets)-1].key
}

// kindKey is the report's kind of a map: what Spark made it for, or
// "user" for a map a SparkApplication names as user-supplied.
func kindKey(e Entry) string {
	if e.origin.userSource != "" {
		return "user"
	}
	return string(e.Kind)
}

// appTally is one application's counts, and how many of its maps each
// cause left (by the cause's place in causeInfos): a report over 120,000
// maps may count 24,000 applications, and a map per application would
// cost more than the rest of the report.
type appTally struct {
	Tally
	causes []int32
}

// causeIndex is c's place in causeInfos.
func causeIndex(c Cause) int {
	for i, info := range causeInfos {
		if info.Cause == c {
			return i
		}
	}
	return -1
}

// aggregator keeps the report's counts as sweep decides maps. Memory grows
// with namespaces and applications, never with maps (but for the sizes).
type aggregator struct {
	mu         sync.Mutex
	sizes      sizeIndex // with Sizes
	each       func(Entry, Cause)
	total      Tally
	namespaces map[string]*Tally
	kinds      map[string]*Tally
	ages       map[string]*Tally
	causes     map[Cause]*Tally
	kept       map[KeepReason]*KeptRow
	apps       map[[2]string]*appTally
	userMaps   Tally
	big        *BigMaps // with Sizes
}

func newAggregator() *aggregator {
	return &aggregator{namespaces: map[string]*Tally{}, kinds: map[string]*Tally{}, ages: map[string]*Tally{},
		causes: map[Cause]*Tally{}, kept: map[KeepReason]*KeptRow{}, apps: map[[2]string]*appTally{}}
}

func bump[K comparable](m map[K]*Tally, k K, e Entry, size int64) {
	t := m[k]
	if t == nil {
		t = &Tally{}
		m[k] = t
	}
	t.add(e, size)
}

// record counts one decided map.
func (a *aggregator) record(e Entry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	size := a.sizes.get(e.Namespace, e.Name)
	c := causeOf(e)
	a.total.add(e, size)
	bump(a.namespaces, e.Namespace, e, size)
	bump(a.kinds, kindKey(e), e, size)
	bump(a.ages, ageBucket(e.origin.age), e, size)
	bump(a.causes, c, e, size)
	if a.big != nil && size >= BigMapBytes {
		a.big.add(e, size)
	}
	if e.Decision == Skipped {
		r := keptReason(e)
		k := a.kept[r]
		if k == nil {
			k = &KeptRow{Reason: r, Title: keepTitle(r)}
			a.kept[r] = k
		}
		k.Maps++
		k.Bytes += size
	}
	if e.AppID != "" {
		key := [2]string{e.Namespace, e.AppID}
		t := a.apps[key]
		if t == nil {
			t = &appTally{causes: make([]int32, len(causeInfos))}
			a.apps[key] = t
		}
		t.add(e, size)
		if i := causeIndex(c); i >= 0 {
			t.causes[i]++
		}
	}
	if a.each != nil {
		a.each(e, c)
	}
}

// userMap counts a user-supplied map sweep passed over.
func (a *aggregator) userMap(ns, name, _ string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.userMaps.Maps++
	a.userMaps.Kept++
	a.userMaps.Bytes += a.sizes.get(ns, name)
}

func rows[K ~string](m map[K]*Tally) []Row {
	out := make([]Row, 0, len(m))
	for k, t := range m {
		out = append(out, Row{Key: string(k), Tally: *t})
	}
	slices.SortFunc(out, func(a, b Row) int { return cmp.Or(cmp.Compare(b.Maps, a.Maps), cmp.Compare(a.Key, b.Key)) })
	return out
}

func (a *aggregator) result(topN int) *ReportResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := &ReportResult{Total: a.total, UserMaps: a.userMaps, Namespaces: rows(a.namespaces), Kinds: rows(a.kinds), Applications: len(a.apps), BigMaps: a.big}
	for _, b := range ageBuckets {
		if t := a.ages[b.key]; t != nil {
			r.Ages = append(r.Ages, Row{Key: b.key, Tally: *t})
		}
	}
	for _, info := range causeInfos {
		if t := a.causes[info.Cause]; t != nil {
			r.Causes = append(r.Causes, CauseRow{CauseInfo: info, Tally: *t})
		}
	}
	if a.userMaps.Maps > 0 {
		// Sweep passes them over; they are still the user-supplied cause.
		i := slices.IndexFunc(r.Causes, func(c CauseRow) bool { return c.Cause == CauseUserSupplied })
		if i < 0 {
			r.Causes = append(r.Causes, CauseRow{CauseInfo: InfoOf(CauseUserSupplied)})
			slices.SortStableFunc(r.Causes, func(x, y CauseRow) int { return causeOrder(x.Cause) - causeOrder(y.Cause) })
			i = slices.IndexFunc(r.Causes, func(c CauseRow) bool { return c.Cause == CauseUserSupplied })
		}
		r.Causes[i].Maps += a.userMaps.Maps
		r.Causes[i].Kept += a.userMaps.Kept
		r.Causes[i].Bytes += a.userMaps.Bytes
	}
	for _, k := range rule.Keeps() {
		if row := a.kept[k]; row != nil {
			r.Kept = append(r.Kept, *row)
		}
	}
	if row := a.kept[KeepOther]; row != nil {
		r.Kept = append(r.Kept, *row)
	}
	for key, t := range a.apps {
		r.TopApps = append(r.TopApps, AppRow{Namespace: key[0], AppID: key[1], Cause: mainCause(t.causes), Tally: t.Tally})
	}
	slices.SortFunc(r.TopApps, func(x, y AppRow) int {
		return cmp.Or(cmp.Compare(y.Maps, x.Maps), cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.AppID, y.AppID))
	})
	if len(r.TopApps) > topN {
		r.TopApps = r.TopApps[:topN]
	}
	for _, l := range []*[]Row{&r.Namespaces, &r.Kinds, &r.Ages} {
		if *l == nil {
			*l = []Row{}
		}
	}
	if r.Causes == nil {
		r.Causes = []CauseRow{}
	}
	if r.Kept == nil {
		r.Kept = []KeptRow{}
	}
	if r.TopApps == nil {
		r.TopApps = []AppRow{}
	}
	return r
}

func causeOrder(c Cause) int {
	return slices.IndexFunc(causeInfos, func(i CauseInfo) bool { return i.Cause == c })
}

// mainCause is the cause most of an application's maps have (the first in
// report order on a tie).
func mainCause(counts []int32) Cause {
	var best Cause
	var most int32
	for i, info := range causeInfos {
		if counts[i] > most {
			best, most = info.Cause, counts[i]
		}
	}
	return best
}

// Report reads what a sweep with the same scope and age bounds reads, with
// the same rights, and says what it would do: it runs Sweep itself in dry
// run, so that its "would delete" and "keeps" are sweep's own judgement
// map for map, and attributes every map to the cause that left it there.
// It deletes nothing and holds counts only.
func Report(ctx context.Context, c Clients, log *slog.Logger, o ReportOptions) (*ReportResult, error) {
	start := time.Now()
	if o.TopApps <= 0 {
		o.TopApps = DefaultTopApps
	}
	so := SweepOptions{Namespace: o.Namespace, Namespaces: o.Namespaces, AllNamespaces: o.AllNamespaces, ExcludeNamespaces: o.ExcludeNamespaces,
		OlderThan: o.OlderThan, OrphanOlderThan: o.OrphanOlderThan, DryRun: true, PageSize: o.PageSize, Retry: o.Retry, Now: o.Now}
	if err := so.Validate(); err != nil {
		return nil, err
	}
	agg := newAggregator()
	agg.each = o.Each
	if o.Sizes {
		sizes, err := mapSizes(ctx, c, log, so)
		if err != nil {
			return nil, err
		}
		agg.sizes, agg.big = sizes, newBigMaps()
	}
	so.Record, so.userMapSeen = agg.record, agg.userMap
	res, err := Sweep(ctx, c, log, so)
	r := agg.result(o.TopApps)
	r.Scope = nsLabel(res.Namespace)
	if o.AllNamespaces {
		r.Scope = nsLabel(metav1.NamespaceAll)
	}
	orphan := o.OrphanOlderThan
	if orphan == 0 {
		orphan = max(DefaultOrphanOlderThan, o.OlderThan)
	}
	r.OlderThan, r.OrphanOlderThan, r.Sizes = o.OlderThan.String(), orphan.String(), o.Sizes
	r.Unreadable = res.Unreadable
	r.Seconds = time.Since(start).Seconds()
	return r, err
}

// sizeIndex is each map's size in bytes by a 64-bit hash of its
// namespace and name: 12 bytes a map where the names themselves would take
// about 100 (at 120,000 maps, 1.4 MiB instead of 12). A collision, about
// one chance in 10^9 at that scale, would misstate one map's size in the
// report; it decides nothing. A ConfigMap is at most 1 MiB, so its size
// fits 32 bits.
type sizeIndex map[uint64]uint32

func sizeKey(ns, name string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(ns))
	_, _ = h.Write([]byte{0}) // no name holds a NUL: "a"+"bc" and "ab"+"c" differ
	_, _ = h.Write([]byte(name))
	return h.Sum64()
}

func (ix sizeIndex) put(ns, name string, bytes int64) {
	ix[sizeKey(ns, name)] = uint32(min(max(bytes, 0), math.MaxUint32))
}

func (ix sizeIndex) get(ns, name string) int64 { return int64(ix[sizeKey(ns, name)]) }

// sizesPageSize bounds a page of full ConfigMaps: each may hold up to 1 MiB.
const sizesPageSize = 50

// mapSizes lists the ConfigMaps of the report's scope in full, page by
// page, and keeps only each one's size (ns/name -> bytes): one number per
// map, never a map's data beyond its page. With AllNamespaces, where the
// caller may not list cluster-wide, it goes namespace by namespace as
// Sweep does, passing over those it may not read (Sweep reports them).
func mapSizes(ctx context.Context, c Clients, log *slog.Logger, o SweepOptions) (sizeIndex, error) {
	sizes := sizeIndex{}
	s := &sweeper{c: c, log: log, o: o}
	retry := o.Retry.WithDefaults()
	retry.Readiness = c.readiness
	listIn := func(ns string) error {
		got := sizeIndex{} // this namespace's, dropped if its list starts over
		err := listPaged(ctx, listSpec{
			log: log, retry: retry, ns: ns, what: "list configmaps (sizes)", verb: "list", resrc: "configmaps", pageSize: sizesPageSize,
			list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				opts.FieldSelector = s.excludeSelector(ns)
				return c.api().ListMapsFull(ctx, ns, opts)
			},
			each: func(obj runtime.Object) error {
				u := obj.(*unstructured.Unstructured)
				got.put(u.GetNamespace(), u.GetName(), configMapBytes(u.Object))
				return nil
			},
			reset: func() { clear(got) },
		})
		maps.Copy(sizes, got)
		return err
	}
	if !o.AllNamespaces {
		scopes := o.Namespaces
		if len(scopes) == 0 {
			scopes = []string{o.Namespace}
		}
		for _, ns := range scopes {
			if err := listIn(ns); err != nil {
				return nil, err
			}
		}
		return sizes, nil
	}
	err := listIn(metav1.NamespaceAll)
	var fe *ForbiddenError
	if !errors.As(err, &fe) || fe.Verb != "list" {
		return sizes, err
	}
	names, err := s.namespaceNames(ctx, retry)
	if err != nil {
		return nil, err
	}
	for _, ns := range names {
		if err := listIn(ns); err != nil && (!errors.As(err, &fe) || fe.Verb != "list") {
			return nil, err
		}
	}
	return sizes, nil
}

// configMapBytes is what a map's content costs: its keys and values, text
// and binary (binaryData counted decoded, as etcd stores it).
func configMapBytes(obj map[string]any) int64 {
	var n int64
	data, _, _ := unstructured.NestedMap(obj, "data")
	for k, v := range data {
		s, _ := v.(string)
		n += int64(len(k) + len(s))
	}
	bin, _, _ := unstructured.NestedMap(obj, "binaryData")
	for k, v := range bin {
		s, _ := v.(string)
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			n += int64(len(k) + len(b))
		} else {
			n += int64(len(k) + len(s))
		}
	}
	return n
}
