package hook_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The report is sweep's own judgement: on a namespace the way users find
// it, every map sweep --dry-run decides is in the report with the same
// decision and one cause, and the counts are the ledger's.
func TestReportMatchesSweepDryRunMapForMapAndGivesEachACause(t *testing.T) {
	w := newSweepWorld(t)
	_, c := admin(t)
	// An application with a TTL not yet run out, and executor deletion
	// turned off: its executor map is that setting's, its driver map the
	// TTL's to remove.
	ttl := newApp(t, w.ns, sparkfixture.Spec{})
	patch := `{"spec":{"timeToLiveSeconds":86400,"sparkConf":{"` + rule.ConfExecutorDeleteOnTermination + `":"false"}}}`
	if _, err := c.Dynamic.Resource(store.SparkApplicationGVR).Namespace(w.ns).Patch(ctxFor(t), ttl.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// A client-mode application's executor map: no owner at all.
	createMap(t, w.ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "spark-exec-00000000000000aa-conf-map",
		Labels: map[string]string{rule.LabelAppSelector: "spark-client-mode", rule.LabelRole: rule.RoleExecutor}}})

	ledger := map[string]hook.Decision{}
	res, err := sweep(t, c, hook.SweepOptions{Namespace: w.ns, DryRun: true, Record: func(e hook.Entry) { ledger[e.Name] = e.Decision }})
	if err != nil {
		t.Fatal(err)
	}
	decided, causes := map[string]hook.Decision{}, map[string]hook.Cause{}
	r, err := hook.Report(ctxFor(t), c, testLog(t), hook.ReportOptions{Namespace: w.ns, Sizes: true, Each: func(e hook.Entry, cause hook.Cause) {
		decided[e.Name], causes[e.Name] = e.Decision, cause
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) == 0 || len(decided) != len(ledger) {
		t.Fatalf("report decided %d maps, sweep --dry-run %d", len(decided), len(ledger))
	}
	for name, want := range ledger {
		if decided[name] != want {
			t.Errorf("%s: report says %q, sweep --dry-run %q", name, decided[name], want)
		}
		if causes[name] == "" {
			t.Errorf("%s: no cause", name)
		}
	}
	if r.Total.Maps != res.Counts.Deleted+res.Counts.Skipped+res.Counts.Failed || r.Total.WouldDelete != res.Counts.Deleted || r.Total.Kept != res.Counts.Skipped || r.Total.Failed != res.Counts.Failed {
		t.Fatalf("report totals %+v, sweep --dry-run counts %+v", r.Total, res.Counts)
	}
	plain := w.finished[3] // spark-submit without the operator
	want := map[string]hook.Cause{
		w.finished[0].DriverConfMap:            hook.CauseNoTTL,
		w.finished[0].ExecutorConfMap:          hook.CauseNoTTL,
		plain.DriverConfMap:                    hook.CauseDriverPodKept,
		w.legacy.ExecutorConfMap:               hook.CauseNoOwner,
		"spark-exec-00000000000000aa-conf-map": hook.CauseNoOwner,
		"team-hadoop-config":                   hook.CauseUserSupplied,
		w.running.DriverConfMap:                hook.CauseRunning,
		ttl.ExecutorConfMap:                    hook.CauseExecutorDeletionOff,
		ttl.DriverConfMap:                      hook.CauseTTLNotDue,
	}
	for name, cause := range want {
		if causes[name] != cause {
			t.Errorf("%s: cause %q, want %q", name, causes[name], cause)
		}
	}
	// team-defaults bears no sign of Spark: sweep never considers it, the
	// report counts it among the user-supplied maps.
	if _, ok := ledger["team-defaults"]; ok || r.UserMaps.Maps != 1 {
		t.Errorf("user-supplied maps sweep passes over: %+v", r.UserMaps)
	}
	if r.Total.Bytes <= 0 {
		t.Errorf("--sizes counted %d bytes", r.Total.Bytes)
	}
	// Nothing was deleted.
	for name := range ledger {
		if !contains(mapNames(t, w.ns), name) {
			t.Errorf("report deleted %s", name)
		}
	}
	if !strings.Contains(r.Scope, w.ns) {
		t.Errorf("scope %q", r.Scope)
	}
}
