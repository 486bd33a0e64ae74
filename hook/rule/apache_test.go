package rule_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// What is read of an Apache operator application: its state, its
// application id as the operator derives it (and as spec.sparkConf may
// set it), the driver's name, when it ended, its retain settings and its
// user maps.
func TestParseSparkAppReadsTheApacheOperatorsFields(t *testing.T) {
	long := "a-very-long-application-name-for-the-nightly-etl"
	for _, tc := range []struct {
		name            string
		u               func() *unstructured.Unstructured
		state, id, pod  string
		terminal        bool
		ended           bool
		policy          string
		retain, ttl     int64
		retainUnreadble bool
	}{
		{name: "attempt 1, RunningHealthy", u: func() *unstructured.Unstructured { return apacheObject("RunningHealthy", 1, nil) },
			state: "RunningHealthy", id: "pi-1", pod: "pi-1-driver", retain: -1, ttl: -1},
		{name: "ResourceReleased is terminal and ended at lastTransitionTime", u: func() *unstructured.Unstructured { return apacheObject("ResourceReleased", 0, nil) },
			state: "ResourceReleased", id: "pi-0", pod: "pi-0-driver", terminal: true, ended: true, retain: -1, ttl: -1},
		{name: "no status: no state, no id yet", u: func() *unstructured.Unstructured { return apacheObject("", 0, nil) }, retain: -1, ttl: -1},
		{name: "a name past 46 characters: the operator's hashed id", u: func() *unstructured.Unstructured {
			u := apacheObject("DriverRequested", 3, nil)
			u.SetName(long)
			u.SetNamespace("jobs")
			return u
		}, state: "DriverRequested", id: "a-very-lo-1sk9zu3rlo4svd10ofsbsi2o739i3pf862p2", pod: "a-very-lo-1sk9zu3rlo4svd10ofsbsi2o739i3pf862p2-driver", retain: -1, ttl: -1},
		{name: "spec.sparkConf spark.app.id and the driver Pod's name win", u: func() *unstructured.Unstructured {
			u := apacheObject("RunningHealthy", 2, nil)
			_ = unstructured.SetNestedStringMap(u.Object, map[string]string{"spark.app.id": "nightly", "spark.kubernetes.driver.pod.name": "nightly-drv"}, "spec", "sparkConf")
			return u
		}, state: "RunningHealthy", id: "nightly", pod: "nightly-drv", retain: -1, ttl: -1},
		{name: "retain settings", u: func() *unstructured.Unstructured {
			return apacheObject("TerminatedWithoutReleaseResources", 0, map[string]any{"resourceRetainPolicy": "OnFailure", "resourceRetainDurationMillis": int64(60000), "ttlAfterStopMillis": float64(120000)})
		}, state: "TerminatedWithoutReleaseResources", id: "pi-0", pod: "pi-0-driver", terminal: true, ended: true, policy: "OnFailure", retain: 60000, ttl: 120000},
		{name: "retain settings the schema does not allow", u: func() *unstructured.Unstructured {
			return apacheObject("TerminatedWithoutReleaseResources", 0, map[string]any{"resourceRetainPolicy": int64(1)})
		}, state: "TerminatedWithoutReleaseResources", id: "pi-0", pod: "pi-0-driver", terminal: true, ended: true, retain: -1, ttl: -1, retainUnreadble: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := rule.ParseSparkApp(tc.u())
			x := a.Apache
			if x == nil || a.Group != rule.ApacheGroup {
				t.Fatalf("not read as an Apache application: group %q", a.Group)
			}
			if a.State != tc.state || a.AppID != tc.id || a.DriverPod != tc.pod || a.Terminal() != tc.terminal || a.TerminatedAt.IsZero() == tc.ended {
				t.Errorf("state %q id %q driver %q terminal %v ended %v; want %q %q %q %v %v", a.State, a.AppID, a.DriverPod, a.Terminal(), !a.TerminatedAt.IsZero(), tc.state, tc.id, tc.pod, tc.terminal, tc.ended)
			}
			if x.RetainPolicy != tc.policy || x.RetainMillis != tc.retain || x.TTLMillis != tc.ttl || x.RetainUnreadable != tc.retainUnreadble {
				t.Errorf("retain %q %d %d unreadable %v; want %q %d %d %v", x.RetainPolicy, x.RetainMillis, x.TTLMillis, x.RetainUnreadable, tc.policy, tc.retain, tc.ttl, tc.retainUnreadble)
			}
			if a.UserMaps["pi-user-conf"] != "spec.configMapSpecs" {
				t.Errorf("user maps %v", a.UserMaps)
			}
		})
	}
}

// cleanup never overrides the user's retain choice: only a sweep, with its
// --older-than, deletes what resourceRetainPolicy Always keeps forever, and
// its ledger says so.
func TestOnlySweepOverridesAnEndlessRetainPolicy(t *testing.T) {
	v := apacheView("TerminatedWithoutReleaseResources", corev1.PodSucceeded, map[string]any{"resourceRetainPolicy": "Always"})()
	hold, note := v.RetainHold(ruleNow, false)
	if !strings.Contains(hold.Text, "only sweep --older-than deletes them") || hold.Kind != rule.KeepRetainPolicy || note != "" {
		t.Errorf("cleanup: hold %q note %q", hold, note)
	}
	hold, note = v.RetainHold(ruleNow, true)
	if hold.Keeps() || !strings.Contains(note, "overrides resourceRetainPolicy Always") || !strings.Contains(note, ruleNow.Add(-2*time.Hour).Format(time.RFC3339)) {
		t.Errorf("sweep: hold %q note %q", hold, note)
	}
	// A Kubeflow application has no such clause.
	if hold, note := finishedView().RetainHold(ruleNow, false); hold.Keeps() || note != "" {
		t.Errorf("Kubeflow: hold %q note %q", hold, note)
	}
}
