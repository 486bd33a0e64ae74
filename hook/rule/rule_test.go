package rule_test

import (
	"maps"
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

// The deletion rule of docs/deletion.md ("What gets deleted"), one row per
// clause, read against the pure decisions cleanup and sweep share: judge,
// liveness, the snapshot mark, the age rule and the re-check before each
// batch. Control-plane tests prove the same clauses end to end.

// The fixtures, under the short names the table reads best with.
var (
	ruleNow         = ruletest.Now
	ago             = ruletest.Ago
	ruleDriver      = ruletest.Driver
	ruleApp         = ruletest.App
	finishedView    = ruletest.FinishedView
	byDriver        = ruletest.ByDriver
	byApp           = ruletest.ByApp
	ruleMap         = ruletest.Map
	withLabels      = ruletest.WithLabels
	execLabels      = ruletest.ExecLabels
	podUsing        = ruletest.PodUsing
	clientModeView  = ruletest.ClientModeView
	viewWithDriver  = ruletest.ViewWithDriver
	viewWithState   = ruletest.ViewWithState
	viewWithRetries = ruletest.ViewWithRetries
)

const (
	ruleNS    = ruletest.NS
	ruleAppID = ruletest.AppID
	driverMap = ruletest.DriverMap
	execMap   = ruletest.ExecMap
)

func TestTheDeletionRule(t *testing.T) {
	ages := rule.AgeRule{Now: ruleNow, OlderThan: time.Hour, OrphanOlderThan: 168 * time.Hour}
	mark := rule.Mark{RV: "1000"}
	type row struct {
		clause string
		m      *metav1.ObjectMeta
		app    func() *rule.View
		act    *rule.Activity
		using  []*corev1.Pod                   // Pods in the re-check before the batch
		liveBy map[string][]string             // ns/id -> Pods of the application running at the re-check
		rule   func(rule.AgeRule) rule.AgeRule // changes to the age rule
		want   string                          // "delete", or a part of the reason to keep
	}
	rows := []row{
		// A map is deleted only with positive evidence that Spark or the
		// Spark Operator generated it for the application:
		{clause: "owned by the application's driver Pod (by UID) and named as Spark names its driver map", m: ruleMap(driverMap, byDriver), want: "delete"},
		{clause: "... its executor map", m: execLabels(ruleMap(execMap, byDriver)), want: "delete"},
		{clause: "... its pod-template map", m: ruleMap("etl-0123456789abcdef-driver-podspec-conf-map", byDriver), want: "delete"},
		{clause: "... its Hadoop map", m: ruleMap("etl-0123456789abcdef-hadoop-config", byDriver), want: "delete"},
		{clause: "... its krb5 map", m: ruleMap("etl-0123456789abcdef-krb5-file", byDriver), want: "delete"},
		{clause: "... its driver map as Spark before 3.1 named it", m: ruleMap("etl-0123456789abcdef-driver-conf-map", byDriver), want: "delete"},
		{clause: "owned by the driver Pod by name once the Pod is gone and its UID was never seen", m: ruleMap(driverMap, byDriver),
			app: func() *rule.View {
				a := rule.NewView(ruleNS)
				a.DriverName, a.DriverGone = "etl-driver", true
				return a
			}, want: "delete"},
		{clause: "owned by the driver Pod by UID once the Pod is gone", m: ruleMap(driverMap, byDriver),
			app: func() *rule.View {
				a := rule.NewView(ruleNS)
				a.DriverName, a.DriverUID, a.DriverGone = "etl-driver", "uid-driver", true
				return a
			}, want: "delete"},
		{clause: "owned by the application's SparkApplication and named <app>-prom-conf", m: ruleMap("etl-prom-conf", byApp), want: "delete"},
		{clause: "owned by the SparkApplication by UID once it is gone", m: ruleMap("etl-prom-conf", byApp),
			app: func() *rule.View {
				a := rule.NewView(ruleNS)
				a.AppName, a.AppUID, a.AppGone = "etl", "uid-app", true
				return a
			}, want: "delete"},
		{clause: "no owner, named spark-exec-<hex>-conf-map, labelled with the id and spark-role=executor, quiet longer than --orphan-older-than",
			m: func() *metav1.ObjectMeta {
				m := execLabels(ruleMap(execMap))
				m.CreationTimestamp = ago(200 * time.Hour)
				return m
			}(),
			app: clientModeView, act: &rule.Activity{Newest: ruleNow.Add(-190 * time.Hour)}, want: "delete"},
		{clause: "no owner, quiet longer than --orphan-older-than also by its last-active stamp",
			m: func() *metav1.ObjectMeta {
				m := execLabels(ruleMap(execMap))
				m.CreationTimestamp = ago(200 * time.Hour)
				m.Annotations = map[string]string{rule.AnnotationLastActive: ruleNow.Add(-190 * time.Hour).Format(time.RFC3339)}
				return m
			}(),
			app: clientModeView, want: "delete"},
		{clause: "no owner, quiet longer than --orphan-older-than, a last-active stamp that is no time",
			m: func() *metav1.ObjectMeta {
				m := execLabels(ruleMap(execMap))
				m.CreationTimestamp = ago(200 * time.Hour)
				m.Annotations = map[string]string{rule.AnnotationLastActive: "yesterday"}
				return m
			}(),
			app: clientModeView, want: "delete"},
		{clause: "a Pod that is Succeeded or Failed does not count as a user", m: ruleMap(driverMap, byDriver),
			using: []*corev1.Pod{podUsing("old-notebook", corev1.PodSucceeded, driverMap), podUsing("crashed", corev1.PodFailed, driverMap)}, want: "delete"},

		// It is never deleted when:
		{clause: "a Pod that is Pending uses it", m: ruleMap(driverMap, byDriver), using: []*corev1.Pod{podUsing("nb", corev1.PodPending, driverMap)}, want: "in use by Pod nb (Pending)"},
		{clause: "a Pod that is Running uses it", m: ruleMap(driverMap, byDriver), using: []*corev1.Pod{podUsing("nb", corev1.PodRunning, driverMap)}, want: "in use by Pod nb (Running)"},
		{clause: "a Pod that is Unknown uses it", m: ruleMap(driverMap, byDriver), using: []*corev1.Pod{podUsing("nb", corev1.PodUnknown, driverMap)}, want: "in use by Pod nb (Unknown)"},
		{clause: "the SparkApplication names it as user-supplied", m: ruleMap("team-spark-conf", byDriver), want: "user-supplied (spec.sparkConfigMap)"},
		{clause: "nothing proves Spark made it: Spark's name, no owner, no label", m: ruleMap(execMap), want: "no evidence"},
		{clause: "nothing proves Spark made it: not a name Spark generates, though owned by the driver", m: ruleMap("airflow-settings", byDriver), want: "not a name Spark generates"},
		{clause: "nothing proves Spark made it: a driver-owned map under the operator's name", m: ruleMap("etl-prom-conf", byDriver), want: "no evidence"},
		{clause: "nothing proves Spark made it: an ownerless executor map without spark-role=executor", m: withLabels(ruleMap(execMap), rule.LabelAppSelector, ruleAppID), app: clientModeView, want: "no evidence"},
		{clause: `annotated sparkcm-hook/keep: "true"`, m: func() *metav1.ObjectMeta {
			m := ruleMap(driverMap, byDriver)
			m.Annotations = map[string]string{rule.AnnotationKeep: "true"}
			return m
		}(), want: rule.AnnotationKeep},
		{clause: "has any other owner", m: ruleMap(driverMap, byDriver, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "keeper", UID: "uid-sts"}), want: "has another owner (StatefulSet keeper)"},
		{clause: "owned by another Pod of the driver's name (the UID is known and differs)", m: ruleMap(driverMap, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "etl-driver", UID: "uid-other"}), want: "has another owner (Pod etl-driver)"},
		{clause: "owned by another SparkApplication of the same name", m: ruleMap("etl-prom-conf", metav1.OwnerReference{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: "etl", UID: "uid-new"}),
			app: func() *rule.View {
				a := rule.NewView(ruleNS)
				a.AppName, a.AppUID, a.AppGone = "etl", "uid-app", true
				return a
			}, want: "has another owner (SparkApplication etl)"},
		{clause: "labelled for another application", m: withLabels(ruleMap(execMap, byDriver), rule.LabelAppSelector, "spark-other", rule.LabelRole, rule.RoleExecutor), want: "labelled for another application"},
		{clause: "the driver Pod is Pending", m: ruleMap(driverMap, byDriver), app: viewWithDriver(corev1.PodPending), want: "driver Pod etl-driver is Pending"},
		{clause: "the driver Pod is Running", m: ruleMap(driverMap, byDriver), app: viewWithDriver(corev1.PodRunning), want: "driver Pod etl-driver is Running"},
		{clause: "the driver Pod is Unknown", m: ruleMap(driverMap, byDriver), app: viewWithDriver(corev1.PodUnknown), want: "driver Pod etl-driver is Unknown"},
		{clause: "the SparkApplication is not yet submitted", m: ruleMap("etl-prom-conf", byApp), app: viewWithState(""), want: "SparkApplication etl is not yet submitted"},
		{clause: "the SparkApplication is SUBMITTED", m: ruleMap("etl-prom-conf", byApp), app: viewWithState("SUBMITTED"), want: "is SUBMITTED"},
		{clause: "the SparkApplication is RUNNING", m: ruleMap("etl-prom-conf", byApp), app: viewWithState("RUNNING"), want: "is RUNNING"},
		{clause: "the SparkApplication is PENDING_RERUN", m: ruleMap("etl-prom-conf", byApp), app: viewWithState("PENDING_RERUN"), want: "is PENDING_RERUN"},
		{clause: "the SparkApplication is SUSPENDED", m: ruleMap("etl-prom-conf", byApp), app: viewWithState("SUSPENDED"), want: "is SUSPENDED"},
		// The operator's own retries: SUBMISSION_FAILED is final only once
		// it will not be submitted again; FAILED is always final (a run
		// with retries left goes from FAILING to PENDING_RERUN).
		{clause: "the SparkApplication is SUBMISSION_FAILED with submission retries left (OnFailure)", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "OnFailure", ptr[int64](3), 1), want: "is SUBMISSION_FAILED (the operator submits it again: 1 submission attempt(s) of 1+3)"},
		{clause: "the SparkApplication is SUBMISSION_FAILED with its last submission retry left", m: ruleMap(driverMap, byDriver),
			app: viewWithRetries("SUBMISSION_FAILED", "OnFailure", ptr[int64](3), 3), want: "the operator submits it again"},
		{clause: "the SparkApplication is SUBMISSION_FAILED under restartPolicy Always", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "Always", nil, 7), want: "restartPolicy Always: the operator submits it again"},
		{clause: "the SparkApplication is SUBMISSION_FAILED under a restart policy the tool does not know", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "Sometimes", ptr[int64](0), 1), want: "restartPolicy Sometimes is not one this tool knows"},
		{clause: "the SparkApplication is SUBMISSION_FAILED with retry counts that cannot be read", m: ruleMap("etl-prom-conf", byApp),
			app: func() *rule.View {
				a := viewWithRetries("SUBMISSION_FAILED", "OnFailure", ptr[int64](0), 1)()
				a.App.RetryUnreadable = true
				return a
			}, want: "cannot be read"},
		{clause: "SUBMISSION_FAILED with its submission retries spent is final", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "OnFailure", ptr[int64](3), 4), want: "delete"},
		{clause: "SUBMISSION_FAILED under OnFailure without onSubmissionFailureRetries is final", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "OnFailure", nil, 1), want: "delete"},
		{clause: "SUBMISSION_FAILED under restartPolicy Never is final", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "Never", ptr[int64](3), 1), want: "delete"},
		{clause: "SUBMISSION_FAILED without a restart policy (the operator's default, Never) is final", m: ruleMap("etl-prom-conf", byApp),
			app: viewWithRetries("SUBMISSION_FAILED", "", ptr[int64](3), 1), want: "delete"},
		{clause: "FAILED is final though onFailureRetries were left: the operator reruns only from FAILING", m: ruleMap("etl-prom-conf", byApp),
			app: func() *rule.View {
				a := viewWithRetries("FAILED", "OnFailure", ptr[int64](3), 1)()
				a.SetDriver(ruleDriver(corev1.PodFailed))
				return a
			}, want: "delete"},
		{clause: "any Pod labelled with the application id has not terminated (a client-mode executor)", m: execLabels(ruleMap(execMap)),
			app: func() *rule.View { a := clientModeView(); a.LivePods = []string{"exec-1"}; return a }, want: "Pod exec-1 of spark-app-selector=" + ruleAppID + " has not terminated"},
		{clause: "a new object of the same name has not finished", m: ruleMap(driverMap, byDriver),
			app: func() *rule.View {
				a := finishedView()
				a.Blocker = "a new SparkApplication etl of the same name is SUBMITTED"
				return a
			}, want: "a new SparkApplication etl of the same name is SUBMITTED"},
		{clause: "sweep: the map is younger than --older-than", m: func() *metav1.ObjectMeta {
			m := ruleMap(driverMap, byDriver)
			m.CreationTimestamp = ago(30 * time.Minute)
			return m
		}(),
			want: "younger than the minimum age 1h0m0s"},
		{clause: "sweep: the application ended less than --older-than ago", m: ruleMap(driverMap, byDriver),
			app: func() *rule.View { a := finishedView(); a.App.TerminatedAt = ruleNow.Add(-10 * time.Minute); return a }, want: "application ended 10m0s ago, less than the minimum age"},
		{clause: "sweep: the application's end is in the future (clock skew)", m: ruleMap(driverMap, byDriver),
			app: func() *rule.View { a := finishedView(); a.App.TerminatedAt = ruleNow.Add(time.Hour); return a }, want: "less than the minimum age"},
		{clause: "sweep: no owner (client mode) and the map is younger than --orphan-older-than", m: execLabels(ruleMap(execMap)), app: clientModeView,
			want: "less than the ownerless-map minimum age 168h0m0s"},
		{clause: "sweep: no owner and a Pod of its application stopped less than --orphan-older-than ago",
			m: func() *metav1.ObjectMeta {
				m := execLabels(ruleMap(execMap))
				m.CreationTimestamp = ago(200 * time.Hour)
				return m
			}(),
			app: clientModeView, act: &rule.Activity{Newest: ruleNow.Add(-24 * time.Hour)}, want: "last seen 24h0m0s ago, less than the ownerless-map minimum age"},
		{clause: "sweep: no owner and its executors were last seen running (sparkcm-hook/last-active) less than --orphan-older-than ago, though no Pod of it is left",
			m: func() *metav1.ObjectMeta {
				m := execLabels(ruleMap(execMap))
				m.CreationTimestamp = ago(200 * time.Hour)
				m.Annotations = map[string]string{rule.AnnotationLastActive: ruleNow.Add(-5 * time.Minute).Format(time.RFC3339)}
				return m
			}(),
			app: clientModeView, want: "last seen 5m0s ago, less than the ownerless-map minimum age"},
		{clause: "sweep: no owner, last-active stamped ahead of the clock",
			m: func() *metav1.ObjectMeta {
				m := execLabels(ruleMap(execMap))
				m.CreationTimestamp = ago(200 * time.Hour)
				m.Annotations = map[string]string{rule.AnnotationLastActive: ruleNow.Add(time.Hour).Format(time.RFC3339)}
				return m
			}(),
			app: clientModeView, want: "less than the ownerless-map minimum age"},
		{clause: "sweep: written after its owners were read", m: func() *metav1.ObjectMeta { m := ruleMap(driverMap, byDriver); m.ResourceVersion = "1001"; return m }(),
			want: "created or changed after its owners were read"},

		// The Apache Spark Kubernetes Operator (spark.apache.org). Its
		// state is .status.currentState.currentStateSummary; only
		// ResourceReleased and TerminatedWithoutReleaseResources are final.
		{clause: "Apache: <app id>-spark-drv-conf-map owned by the driver Pod (no controller), application ResourceReleased", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("ResourceReleased", corev1.PodSucceeded, nil), want: "delete"},
		{clause: "Apache: ... its <app id>-driver-podspec-conf-map, -hadoop-config and -krb5-file", m: apacheMap(apacheID + "-driver-podspec-conf-map"),
			app: apacheView("ResourceReleased", corev1.PodSucceeded, nil), want: "delete"},
		{clause: "Apache: the driver Pod is gone (released), its maps not yet collected", m: apacheMap(apacheID + "-hadoop-config"),
			app: func() *rule.View {
				a := rule.NewView(ruleNS)
				a.DriverName, a.DriverUID, a.DriverGone = apacheDriver, "uid-apache-driver", true
				a.AddID(apacheID)
				a.SetApp(rule.ParseSparkApp(apacheObject("ResourceReleased", 1, nil)))
				return a
			}, want: "delete"},
		{clause: "Apache: Succeeded is not final (the operator may schedule a restart)", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("Succeeded", corev1.PodSucceeded, nil), want: "SparkApplication pi is Succeeded"},
		{clause: "Apache: Failed is not final", m: apacheMap(apacheID + "-spark-drv-conf-map"), app: apacheView("Failed", corev1.PodFailed, nil), want: "is Failed"},
		{clause: "Apache: ScheduledToRestart", m: apacheMap(apacheID + "-spark-drv-conf-map"), app: apacheView("ScheduledToRestart", corev1.PodFailed, nil), want: "is ScheduledToRestart"},
		{clause: "Apache: a state the tool does not know (a future Suspended) means running", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("Suspended", corev1.PodSucceeded, nil), want: "is Suspended"},
		{clause: "Apache: an empty status means running", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("", corev1.PodSucceeded, nil), want: "is not yet submitted"},
		{clause: "Apache: RunningHealthy while the driver Pod Succeeded (a stale status) is kept, and the reason says the status disagrees", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("RunningHealthy", corev1.PodSucceeded, nil), want: "the status disagrees"},
		{clause: "Apache: spec.configMapSpecs names it: user-supplied", m: func() *metav1.ObjectMeta {
			m := ruleMap("pi-user-conf", metav1.OwnerReference{APIVersion: "spark.apache.org/v1", Kind: "SparkApplication", Name: "pi", UID: "uid-apache"})
			return m
		}(), app: apacheView("ResourceReleased", corev1.PodSucceeded, nil), want: "user-supplied (spec.configMapSpecs)"},
		{clause: "Apache: a map of an earlier attempt goes once its driver ended, while the application runs its next attempt", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheRestarted("RunningHealthy", corev1.PodFailed), want: "delete"},
		{clause: "Apache: a map of an earlier attempt stays while that attempt's driver runs", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheRestarted("RunningHealthy", corev1.PodRunning), want: "driver Pod pi-1-driver is Running"},
		{clause: "Apache: a Pending Pod that mounts the map protects it, whatever the status says", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("ResourceReleased", corev1.PodSucceeded, nil), using: []*corev1.Pod{podUsing("pi-2-driver", corev1.PodPending, apacheID+"-spark-drv-conf-map")}, want: "in use by Pod pi-2-driver (Pending)"},
		{clause: "Apache: TerminatedWithoutReleaseResources with a retain duration: kept until lastTransitionTime plus it", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app:  apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "Always", "resourceRetainDurationMillis": int64(3 * 3600 * 1000)}),
			want: "the operator releases its resources itself at 2026-11-27T13:00:00Z"},
		{clause: "Apache: ... the smaller of resourceRetainDurationMillis and ttlAfterStopMillis applies", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app:  apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "Always", "resourceRetainDurationMillis": int64(3 * 3600 * 1000), "ttlAfterStopMillis": int64(7 * 3600 * 1000)}),
			want: "releases its resources itself at 2026-11-27T13:00:00Z"},
		{clause: "Apache: ... once that time has passed (the operator is down), sweep deletes", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "OnFailure", "ttlAfterStopMillis": int64(3600 * 1000)}), want: "delete"},
		{clause: "Apache: ... retain settings that cannot be read: kept", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "Always", "resourceRetainDurationMillis": "soon"}), want: "retain settings cannot be read"},
		{clause: "Apache: TerminatedWithoutReleaseResources, policy Always and both durations -1: sweep deletes once --older-than has passed since lastTransitionTime", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app: apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "Always"}), want: "delete"},
		{clause: "Apache: ... not before --older-than has passed since lastTransitionTime", m: apacheMap(apacheID + "-spark-drv-conf-map"),
			app:  apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "Always"}),
			rule: func(r rule.AgeRule) rule.AgeRule { r.OlderThan = 3 * time.Hour; return r }, want: "application ended 2h0m0s ago, less than the minimum age 3h0m0s"},
		{clause: "Apache: a gone Kubeflow application's name does not match an Apache application's reference", m: ruleMap("pi-prom-conf", metav1.OwnerReference{APIVersion: "spark.apache.org/v1", Kind: "SparkApplication", Name: "pi", UID: "uid-apache"}),
			app: func() *rule.View { a := rule.NewView(ruleNS); a.AppName, a.AppGone = "pi", true; return a }, want: "has another owner (SparkApplication pi)"},

		{clause: "sweep: a Pod uses it at the re-check just before its batch", m: ruleMap(driverMap, byDriver), using: []*corev1.Pod{podUsing("late", corev1.PodRunning, driverMap)}, want: "in use by Pod late (Running)"},
		{clause: "sweep: a Pod of its application runs at the re-check just before its batch", m: execLabels(ruleMap(execMap, byDriver)),
			liveBy: map[string][]string{ruleNS + "/" + ruleAppID: {"exec-7"}}, want: "Pod exec-7 of spark-app-selector=" + ruleAppID + " has not terminated"},
	}
	for _, r := range rows {
		t.Run(r.clause, func(t *testing.T) {
			app := finishedView()
			if r.app != nil {
				app = r.app()
			}
			rl := ages
			if r.rule != nil {
				rl = r.rule(rl)
			}
			_, _, reason := rule.Verdict(r.m, app, r.act, rl, mark)
			if !reason.Keeps() {
				used := rule.RefIndex{}
				for _, p := range r.using {
					used.Add(p, nil)
				}
				reason = rule.Busy(r.m.Namespace, r.m.Name, app.SortedIDs(), used, r.liveBy)
			}
			got := "delete"
			if reason.Keeps() {
				got = reason.Text
			}
			if r.want == "delete" && got != "delete" || r.want != "delete" && !strings.Contains(got, r.want) {
				t.Fatalf("%s:\n got  %q\n want %q", r.clause, got, r.want)
			}
			// Every reason to keep has a kind and words: reports count
			// by the kind and the ledger shows the words.
			if reason.Keeps() != (reason.Text != "") || reason.Keeps() && !slices.Contains(rule.Keeps(), reason.Kind) {
				t.Fatalf("%s: reason %+v has no known kind, or a kind without words", r.clause, reason)
			}
			// Cleanup judges with the same judge and liveness: where the
			// sweep keeps a map for either, so does cleanup.
			_, judged := app.Judge(r.m)
			isLive, _ := app.Live()
			if r.want == "delete" && (judged.Keeps() || isLive) {
				t.Fatalf("cleanup would keep what sweep deletes: %q live=%v", judged, isLive)
			}
		})
	}
}

func TestParseSparkAppReadsTheOperatorsRetryFields(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   map[string]any
		status map[string]any
		want   string // operatorRetries, "" for final
	}{
		{"OnFailure with retries left", map[string]any{"type": "OnFailure", "onSubmissionFailureRetries": int64(2)}, map[string]any{"submissionAttempts": int64(2)}, "2 submission attempt(s) of 1+2"},
		{"OnFailure with retries spent", map[string]any{"type": "OnFailure", "onSubmissionFailureRetries": int64(2)}, map[string]any{"submissionAttempts": int64(3)}, ""},
		{"counts as JSON numbers built by hand", map[string]any{"type": "OnFailure", "onSubmissionFailureRetries": float64(2)}, map[string]any{"submissionAttempts": float64(1)}, "1 submission attempt(s) of 1+2"},
		{"no attempts recorded yet", map[string]any{"type": "OnFailure", "onSubmissionFailureRetries": int64(0)}, map[string]any{}, "0 submission attempt(s) of 1+0"},
		{"a count that is not a number", map[string]any{"type": "OnFailure", "onSubmissionFailureRetries": "many"}, map[string]any{"submissionAttempts": int64(9)}, "cannot be read"},
		{"a policy type that is not a string", map[string]any{"type": int64(1)}, map[string]any{}, "is not one this tool knows"},
		{"Never", map[string]any{"type": "Never", "onSubmissionFailureRetries": int64(5)}, map[string]any{"submissionAttempts": int64(1)}, ""},
		{"no restart policy", nil, map[string]any{"submissionAttempts": int64(1)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := map[string]any{"applicationState": map[string]any{"state": "SUBMISSION_FAILED"}}
			maps.Copy(status, tc.status)
			spec := map[string]any{}
			if tc.spec != nil {
				spec["restartPolicy"] = tc.spec
			}
			a := rule.ParseSparkApp(&unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "etl"}, "spec": spec, "status": status}})
			got := a.OperatorRetries()
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("operatorRetries = %q, want %q", got, tc.want)
			}
			if a.Terminal() != (tc.want == "") {
				t.Fatalf("terminal = %v with operatorRetries %q", a.Terminal(), got)
			}
		})
	}
}

func TestSidecarModeCountsTheDriverAsFinishedOnceItsContainerEnded(t *testing.T) {
	// The kubelet reports a container's end to the second; a sidecar takes
	// the moment of its SIGTERM to the nanosecond.
	second := ruleNow.Add(-time.Minute).Truncate(time.Second)
	for _, tc := range []struct {
		name       string
		terminated bool
		// stopped, when set, is when the sidecar got SIGTERM, after the
		// start of the second the driver container's end is reported in.
		stopped time.Duration
		ended   time.Duration
		want    bool
	}{
		{"driver container still running", false, 0, 0, true},
		{"driver container ended, sidecar keeps the Pod Running", true, 0, 0, false},
		{"driver container ended, then the sidecar was told to stop", true, 1500 * time.Millisecond, 0, false},
		{"driver container ended in the second the sidecar was told to stop", true, 500 * time.Millisecond, 0, false},
		{"sidecar told to stop, then the driver container ended with the Pod", true, 500 * time.Millisecond, 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := finishedView()
			p := ruleDriver(corev1.PodRunning)
			st := corev1.ContainerStatus{Name: rule.DefaultDriverContainer}
			if tc.terminated {
				st.State.Terminated = &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(second.Add(tc.ended))}
			}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{st, {Name: "sparkcm-hook"}}
			a.SetDriver(p)
			a.SetApp(ruleApp("RUNNING")) // the operator sees the end only once the Pod ends
			a.DriverContainer = rule.DefaultDriverContainer
			if tc.stopped != 0 {
				a.StoppedAt = second.Add(tc.stopped)
			}
			if got, why := a.Live(); got != tc.want {
				t.Fatalf("live = %v (%s), want %v", got, why, tc.want)
			}
			if tc.want == a.Exempt(p) {
				t.Fatalf("exempt = %v", a.Exempt(p))
			}
		})
	}
}

func TestKindOfNamesWhatSparkGenerates(t *testing.T) {
	for name, want := range map[string]rule.MapKind{
		"spark-drv-0123456789abcdef-conf-map":             rule.KindDriverConf,
		"spark-exec-0123456789abcdef-conf-map":            rule.KindExecutorConf,
		"etl-0123456789abcdef-driver-podspec-conf-map":    rule.KindPodTemplate,
		"etl-0123456789abcdef-driver-conf-map":            rule.KindDriverConf, // Spark before 3.1
		"pi-0-spark-drv-conf-map":                         rule.KindDriverConf, // the Apache Spark Kubernetes Operator
		"etl-0123456789abcdef-hadoop-config":              rule.KindHadoopConf,
		"etl-0123456789abcdef-krb5-file":                  rule.KindKrb5,
		"etl-prom-conf":                                   rule.KindOperatorProm,
		"spark-drv--conf-map":                             rule.KindNotGenerated,
		"spark-exec-XYZ-conf-map":                         rule.KindNotGenerated,
		"-hadoop-config":                                  rule.KindNotGenerated,
		"airflow-settings":                                rule.KindNotGenerated,
		"kube-root-ca.crt":                                rule.KindNotGenerated,
		"spark-exec-0123456789abcdef-conf-map-backup":     rule.KindNotGenerated,
		"team-defaults":                                   rule.KindNotGenerated,
		"spark-drv-0123456789abcdef-conf-map.old":         rule.KindNotGenerated,
		"etl-0123456789abcdef-driver-podspec-conf-map-v2": rule.KindNotGenerated,
	} {
		if got := rule.KindOf(name); got != want {
			t.Errorf("KindOf(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestPodConfigMapRefsSeesEveryKindOfReference(t *testing.T) {
	cmSel := func(name string) corev1.LocalObjectReference { return corev1.LocalObjectReference{Name: name} }
	env := []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: cmSel("env-key")}}}}
	envFrom := []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: cmSel("env-from")}}}
	for _, tc := range []struct {
		reference string
		pod       corev1.PodSpec
		want      string
	}{
		{"volumes[].configMap", corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: cmSel("vol")}}}}}, "vol"},
		{"volumes[].projected.sources[].configMap", corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: cmSel("projected")}}}}}}}}, "projected"},
		{"containers[].env[].valueFrom.configMapKeyRef", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Env: env}}}, "env-key"},
		{"containers[].envFrom[].configMapRef", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", EnvFrom: envFrom}}}, "env-from"},
		{"initContainers[].env", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i", Env: env}}}, "env-key"},
		{"initContainers[].envFrom", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i", EnvFrom: envFrom}}}, "env-from"},
		{"ephemeralContainers[].env", corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d", Env: env}}}}, "env-key"},
		{"ephemeralContainers[].envFrom", corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "d", EnvFrom: envFrom}}}}, "env-from"},
	} {
		t.Run(tc.reference, func(t *testing.T) {
			got := rule.PodConfigMapRefs(&corev1.Pod{Spec: tc.pod})
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("refs %v, want [%s]", got, tc.want)
			}
		})
	}
}

func TestSnapshotMarkComparesResourceVersionsAndFallsBackToTheClock(t *testing.T) {
	mark := rule.Mark{RV: "1000", At: ruleNow}
	for _, tc := range []struct {
		name    string
		rv      string
		created time.Duration // before ruleNow
		want    bool
	}{
		{"written before the mark", "999", time.Hour, false},
		{"written at the mark", "1000", time.Hour, false},
		{"written after the mark", "1001", time.Hour, true},
		{"a longer version is later", "10000", time.Hour, true},
		{"resourceVersions that do not compare: created before the mark's second", "abc", 2 * time.Second, false},
		{"resourceVersions that do not compare: created in the mark's second", "abc", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{ResourceVersion: tc.rv, CreationTimestamp: ago(tc.created)}
			if got := mark.ChangedSince(m); got != tc.want {
				t.Fatalf("changedSince = %v, want %v", got, tc.want)
			}
		})
	}
	if !(rule.Mark{}).ChangedSince(&metav1.ObjectMeta{ResourceVersion: "x"}) {
		t.Fatal("with nothing to compare, a map must count as changed")
	}
}
func ptr[T any](v T) *T { return &v }
