package hook

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule/ruletest"
)

// The report attributes each map to the one cause that left it there, from
// what sweep's judgement saw: the same views the deletion rule is read
// against (hook/rule/rule_test.go).
func TestReportAttributesEachMapToTheCauseThatLeftIt(t *testing.T) {
	ages := rule.AgeRule{Now: ruletest.Now, OlderThan: 0, OrphanOlderThan: 168 * time.Hour}
	mark := rule.Mark{RV: "1000"}
	withApp := func(mutate func(*rule.SparkApp)) func() *rule.View {
		return func() *rule.View {
			a := ruletest.FinishedView()
			sa := ruletest.App("COMPLETED")
			mutate(sa)
			a.SetApp(sa)
			return a
		}
	}
	plainSubmit := func() *rule.View {
		a := rule.NewView(ruletest.NS)
		a.SetDriver(ruletest.Driver(corev1.PodSucceeded))
		return a
	}
	driverGone := func() *rule.View {
		a := rule.NewView(ruletest.NS)
		a.DriverName, a.DriverUID, a.DriverGone = "etl-driver", "uid-driver", true
		a.AddID(ruletest.AppID)
		return a
	}
	// An Apache operator application at rest with retain settings, its
	// driver Pod (which owns its maps) finished.
	apache := func(policy string, retainMillis int64) func() *rule.View {
		return func() *rule.View {
			a := rule.NewView(ruletest.NS)
			a.SetDriver(ruletest.Driver(corev1.PodSucceeded))
			a.SetApp(&rule.SparkApp{Name: "etl", UID: "uid-app", State: "TerminatedWithoutReleaseResources", AppID: ruletest.AppID, Group: rule.ApacheGroup,
				UserMaps: map[string]string{}, Apache: &rule.ApacheApp{RetainPolicy: policy, RetainMillis: retainMillis, TTLMillis: -1}})
			return a
		}
	}
	for _, tc := range []struct {
		name     string
		m        *metav1.ObjectMeta
		app      func() *rule.View
		userSrc  string // what the namespace's SparkApplications name as user-supplied
		want     Cause
		wantKind string
	}{
		{name: "a finished SparkApplication without a TTL leaves its driver map", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), want: CauseNoTTL, wantKind: "driver-conf"},
		{name: "the operator's prom map of an application without a TTL", m: ruletest.Map("etl-prom-conf", ruletest.ByApp), want: CauseNoTTL, wantKind: "operator-prom-conf"},
		{name: "an application with a TTL not yet run out", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), app: withApp(func(a *rule.SparkApp) { a.HasTTL = true }), want: CauseTTLNotDue},
		{name: "executor deletion turned off leaves the executor map", m: ruletest.ExecLabels(ruletest.Map(ruletest.ExecMap, ruletest.ByDriver)), app: withApp(func(a *rule.SparkApp) { a.ExecutorDeletionOff = true }), want: CauseExecutorDeletionOff, wantKind: "executor-conf"},
		{name: "executor deletion turned off says nothing of the driver map", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), app: withApp(func(a *rule.SparkApp) { a.ExecutorDeletionOff = true }), want: CauseNoTTL},
		{name: "an Apache operator application kept by resourceRetainPolicy Always without a duration", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), app: apache("Always", -1), want: CauseRetainPolicy},
		{name: "an Apache operator application whose retain duration has not run out", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), app: apache("Always", 24*3600*1000), want: CauseTTLNotDue},
		{name: "plain spark-submit keeps its finished driver Pod and so its maps", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), app: plainSubmit, want: CauseDriverPodKept},
		{name: "a client-mode executor map has no owner", m: ruletest.ExecLabels(ruletest.Map(ruletest.ExecMap)), app: ruletest.ClientModeView, want: CauseNoOwner},
		{name: "a Spark-named map with no owner and no label has no owner", m: ruletest.Map(ruletest.ExecMap), app: func() *rule.View { return rule.NewView(ruletest.NS) }, want: CauseNoOwner},
		{name: "a map the SparkApplication supplies is the user's", m: ruletest.Map("team-spark-conf"), want: CauseUserSupplied, wantKind: "user"},
		{name: "a map another application names as user-supplied is the user's", m: ruletest.Map("shared-hadoop-config"), app: func() *rule.View { return rule.NewView(ruletest.NS) }, userSrc: "spec.hadoopConfigMap", want: CauseUserSupplied, wantKind: "user"},
		{name: "a running application's maps are not leftovers", m: ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), app: ruletest.ViewWithDriver(corev1.PodRunning), want: CauseRunning},
		{name: "a map whose driver Pod is gone waits for the garbage collector", m: ruletest.Map(ruletest.DriverMap, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "etl-driver", UID: "uid-driver"}), app: driverGone, want: CauseOwnerGone},
		{name: "a map with another owner only is not Spark's leftover", m: ruletest.Map(ruletest.DriverMap, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "keeper", UID: "uid-sts"}), app: func() *rule.View { return rule.NewView(ruletest.NS) }, want: CauseNotSparks},
		{name: "unreadable SparkApplications leave the state unknown", m: ruletest.Map(ruletest.DriverMap, ruletest.ByApp), app: func() *rule.View {
			a := rule.NewView(ruletest.NS)
			a.AppName, a.AppUID, a.AppGone, a.AppsUnreadable = "etl", "uid-app", true, "v1beta2 is not served"
			return a
		}, want: CauseStateUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := ruletest.FinishedView()
			if tc.app != nil {
				app = tc.app()
			}
			e := sweepVerdict(tc.m, app, nil, ages, mark)
			if e.origin.userSource == "" {
				e.origin.userSource = tc.userSrc // as sweepScope adds from the namespace's index
			}
			if got := causeOf(e); got != tc.want {
				t.Fatalf("cause %q, want %q (decision %s, reason %q)", got, tc.want, e.Decision, e.Reason)
			}
			if tc.wantKind != "" && kindKey(e) != tc.wantKind {
				t.Fatalf("kind %q, want %q", kindKey(e), tc.wantKind)
			}
			if InfoOf(tc.want).Remedy == "" {
				t.Fatalf("cause %q has no remedy", tc.want)
			}
		})
	}
}

func TestParseSparkAppReadsTheTTLAndExecutorDeletion(t *testing.T) {
	for _, tc := range []struct {
		name         string
		spec         map[string]any
		ttl, execOff bool
	}{
		{name: "neither", spec: map[string]any{}},
		{name: "a TTL of zero is a TTL", spec: map[string]any{"timeToLiveSeconds": int64(0)}, ttl: true},
		{name: "executor deletion off", spec: map[string]any{"sparkConf": map[string]any{rule.ConfExecutorDeleteOnTermination: "False"}}, execOff: true},
		{name: "executor deletion on", spec: map[string]any{"sparkConf": map[string]any{rule.ConfExecutorDeleteOnTermination: "true"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := rule.ParseSparkApp(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "etl"}, "spec": tc.spec}})
			if a.HasTTL != tc.ttl || a.ExecutorDeletionOff != tc.execOff {
				t.Fatalf("HasTTL %v ExecutorDeletionOff %v, want %v %v", a.HasTTL, a.ExecutorDeletionOff, tc.ttl, tc.execOff)
			}
		})
	}
}

// Every reason sweep keeps a map for has its kind, which the report
// counts by: none is counted as "other".
func TestReportTellsTheKindOfEveryReasonSweepKeepsMapsFor(t *testing.T) {
	ages := rule.AgeRule{Now: ruletest.Now, OlderThan: 5 * time.Hour, OrphanOlderThan: 168 * time.Hour}
	app := ruletest.FinishedView()
	keep := ruletest.Map(ruletest.DriverMap, ruletest.ByDriver)
	keep.Annotations = map[string]string{rule.AnnotationKeep: "true"}
	young := ruletest.Map(ruletest.DriverMap, ruletest.ByDriver)
	young.CreationTimestamp = ruletest.Ago(time.Minute)
	changed := ruletest.Map(ruletest.DriverMap, ruletest.ByDriver)
	changed.ResourceVersion = "2000"
	unreadable := rule.NewView(ruletest.NS)
	unreadable.AppName, unreadable.AppsUnreadable = "etl", "not served"
	kept := func(m *metav1.ObjectMeta, a *rule.View, r rule.AgeRule) Entry {
		return sweepVerdict(m, a, nil, r, rule.Mark{RV: "1000"})
	}
	skipped := func(r rule.Reason) Entry { var e Entry; e.skip(r); return e }
	for want, e := range map[KeepReason]Entry{
		rule.KeepRunning:        kept(ruletest.Map(ruletest.DriverMap, ruletest.ByDriver), ruletest.ViewWithDriver(corev1.PodRunning)(), ages),
		rule.KeepInUse:          skipped(rule.UsedByReason([]rule.PodRef{{Name: "nb", Phase: corev1.PodRunning}})),
		rule.KeepTooYoung:       kept(young, app, ages),
		rule.KeepOwnerlessQuiet: kept(ruletest.ExecLabels(ruletest.Map(ruletest.ExecMap)), ruletest.ClientModeView(), rule.AgeRule{Now: ruletest.Now, OrphanOlderThan: 168 * time.Hour}),
		rule.KeepChanged:        kept(changed, app, ages),
		rule.KeepAnnotation:     kept(keep, app, ages),
		rule.KeepUserSupplied:   kept(ruletest.Map("team-spark-conf"), app, ages),
		rule.KeepOtherOwner:     kept(ruletest.Map(ruletest.DriverMap, metav1.OwnerReference{Kind: "StatefulSet", Name: "x"}), app, ages),
		rule.KeepOtherApp:       kept(ruletest.WithLabels(ruletest.Map(ruletest.ExecMap, ruletest.ByDriver), rule.LabelAppSelector, "spark-other"), app, ages),
		rule.KeepNotSparks:      kept(ruletest.Map("settings", ruletest.ByDriver), app, ages),
		rule.KeepStateUnknown:   kept(ruletest.Map(ruletest.DriverMap, ruletest.ByApp), unreadable, ages),
	} {
		if e.Decision != Skipped || e.Reason == "" {
			t.Fatalf("%s: sweep kept nothing: %+v", want, e)
		}
		if got := keptReason(e); got != want {
			t.Errorf("reason %q is %q, want %q", e.Reason, got, want)
		}
		if keepTitle(want) == "other" {
			t.Errorf("%s has no title", want)
		}
	}
	if keepTitle(rule.KeepRetainPolicy) == "other" {
		t.Errorf("%s has no title", rule.KeepRetainPolicy)
	}
}

func TestReportCountsAreSweepsDecisionsByNamespaceKindAgeCauseAndApplication(t *testing.T) {
	a := newAggregator()
	e := func(ns, name string, kind rule.MapKind, id string, d Decision, reason rule.Reason, o origin) Entry {
		return Entry{Namespace: ns, Name: name, Kind: kind, AppID: id, Decision: d, Reason: reason.Text, Keep: reason.Kind, origin: o}
	}
	noTTL := origin{app: true, age: 3 * 24 * time.Hour}
	a.sizes = sizeIndex{}
	a.sizes.put("a", "m1", 100)
	a.sizes.put("a", "m2", 50)
	a.record(e("a", "m1", rule.KindDriverConf, "app-1", WouldDelete, rule.Reason{}, noTTL))
	a.record(e("a", "m2", rule.KindExecutorConf, "app-1", WouldDelete, rule.Reason{}, noTTL))
	a.record(e("a", "m3", rule.KindDriverConf, "app-2", Skipped, rule.Because(rule.KeepInUse, "in use by Pod nb (Running)"), noTTL))
	a.record(e("b", "m4", rule.KindExecutorConf, "app-3", Skipped, rule.Because(rule.KeepOwnerlessQuiet, "ownerless executor map (client mode...)"), origin{ownerless: true, age: 30 * time.Minute}))
	a.userMap("a", "team-defaults", "spec.sparkConfigMap")
	r := a.result(1)
	if r.Total != (Tally{Maps: 4, WouldDelete: 2, Kept: 2, Bytes: 150}) {
		t.Fatalf("total %+v", r.Total)
	}
	if len(r.Namespaces) != 2 || r.Namespaces[0].Key != "a" || r.Namespaces[0].Maps != 3 {
		t.Fatalf("namespaces %+v", r.Namespaces)
	}
	if len(r.Ages) != 2 || r.Ages[0].Key != "<1h" || r.Ages[1].Key != "1d-7d" || r.Ages[1].Maps != 3 {
		t.Fatalf("ages %+v", r.Ages)
	}
	causes := map[Cause]Tally{}
	for _, c := range r.Causes {
		causes[c.Cause] = c.Tally
	}
	if causes[CauseNoTTL].Maps != 3 || causes[CauseNoTTL].WouldDelete != 2 || causes[CauseNoOwner].Maps != 1 || causes[CauseUserSupplied].Maps != 1 {
		t.Fatalf("causes %+v", causes)
	}
	if len(r.Kept) != 2 || r.Kept[0].Reason != rule.KeepInUse || r.Kept[1].Reason != rule.KeepOwnerlessQuiet {
		t.Fatalf("kept %+v", r.Kept)
	}
	if len(r.TopApps) != 1 || r.TopApps[0].AppID != "app-1" || r.TopApps[0].Maps != 2 || r.TopApps[0].Cause != CauseNoTTL || r.Applications != 3 {
		t.Fatalf("top apps %+v of %d", r.TopApps, r.Applications)
	}
	if r.UserMaps.Maps != 1 || r.UserMaps.Kept != 1 {
		t.Fatalf("user maps sweep passed over %+v", r.UserMaps)
	}
}

func TestConfigMapBytesCountsKeysAndValuesBinaryDecoded(t *testing.T) {
	got := configMapBytes(map[string]any{"data": map[string]any{"a": "12345"}, "binaryData": map[string]any{"b": "AAEC"}})
	if got != 1+5+1+3 {
		t.Fatalf("bytes %d, want 10", got)
	}
	if !strings.Contains(InfoOf(CauseNoTTL).Example, "timeToLiveSeconds") {
		t.Fatal("the no-TTL remedy names no field")
	}
}

// report asks for no more than sweep reads with: every verb it needs is one
// sweep needs, and none of them writes.
func TestReportNeedsOnlySweepsReads(t *testing.T) {
	sweepNeeds := map[[3]string]bool{}
	for _, a := range PermissionsFor(CommandSweep) {
		sweepNeeds[[3]string{a.Group, a.Resource, a.Verb}] = true
	}
	need := PermissionsFor(CommandReport)
	if len(need) == 0 {
		t.Fatal("report needs nothing: rbac preflight --for report would check nothing")
	}
	reads := 0
	for _, a := range need {
		if !sweepNeeds[[3]string{a.Group, a.Resource, a.Verb}] {
			t.Errorf("report needs %s %s, which sweep does not", a.Verb, a.Resource)
		}
		switch a.Verb {
		case "get", "list", "watch":
			reads++
		default:
			t.Errorf("report needs %s %s: it must only read", a.Verb, a.Resource)
		}
	}
	for k := range sweepNeeds {
		isRead := k[2] == "get" || k[2] == "list" || k[2] == "watch" // sweep also deletes and records Events
		if isRead && !slices.ContainsFunc(need, func(a Access) bool { return a.Group == k[0] && a.Resource == k[1] && a.Verb == k[2] }) {
			t.Errorf("sweep reads with %s %s, report does not ask for it", k[2], k[1])
		}
	}
}

func TestReportSizesAreKeptPerMapByNamespaceAndName(t *testing.T) {
	ix := sizeIndex{}
	ix.put("a", "bc", 10)
	ix.put("ab", "c", 20)
	ix.put("jobs", "big", 1<<40) // more than any map holds: kept at the most 32 bits hold
	ix.put("jobs", "odd", -5)
	for _, tc := range []struct {
		ns, name string
		want     int64
	}{{"a", "bc", 10}, {"ab", "c", 20}, {"jobs", "big", math.MaxUint32}, {"jobs", "odd", 0}, {"jobs", "absent", 0}} {
		if got := ix.get(tc.ns, tc.name); got != tc.want {
			t.Errorf("%s/%s: %d bytes, want %d", tc.ns, tc.name, got, tc.want)
		}
	}
}
