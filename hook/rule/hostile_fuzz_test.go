package rule_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// Whatever the cluster holds, judging it must not panic, must not take
// memory out of proportion to the object, and must never let a map through
// without the evidence the rule asks for. The seed corpora are in
// testdata/fuzz.

// hostileMeta builds a map's metadata from fuzzed parts: owners copies of
// one owner reference (up to 10,000), and the keep annotation's value.
func hostileMeta(name, label, keep, ownerKind, ownerName, ownerAPI string, owners uint16, bigAnnotation uint32) *metav1.ObjectMeta {
	m := &metav1.ObjectMeta{Namespace: ruleNS, Name: name, UID: "uid-fuzzed", ResourceVersion: "500", CreationTimestamp: ago(3 * 60 * 60 * 1e9)}
	if label != "" {
		m.Labels = map[string]string{rule.LabelAppSelector: label, rule.LabelRole: rule.RoleExecutor}
	}
	m.Annotations = map[string]string{rule.AnnotationKeep: keep, "big": strings.Repeat("x", int(bigAnnotation%(1<<20)))}
	for i := range int(owners) % 10001 {
		uid := types.UID("uid-driver")
		if i%2 == 1 {
			uid = types.UID(fmt.Sprintf("uid-%d", i))
		}
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: ownerAPI, Kind: ownerKind, Name: ownerName, UID: uid})
	}
	return m
}

func FuzzJudgeNeverLetsAMapThroughWithoutEvidence(f *testing.F) {
	f.Add(driverMap, "", "", "Pod", "etl-driver", "v1", uint16(1), uint32(0))
	f.Add(execMap, ruleAppID, "true", "Pod", "etl-driver", "v1", uint16(1), uint32(10))
	f.Add(execMap, ruleAppID, "", "Pod", "etl-driver", "v1", uint16(0), uint32(0))
	f.Add("etl-prom-conf", "", "", "SparkApplication", "etl", "sparkoperator.k8s.io/v1beta2", uint16(1), uint32(0))
	f.Add(strings.Repeat("a", 230)+"-driver-podspec-conf-map", "", "", "Pod", "etl-driver", "v1", uint16(10000), uint32(1<<20-1))
	f.Add("spark-exec-\xff\xfe-conf-map", "spark-\x00", "TRUE", "Pod\n", "etl-driver", "v1", uint16(3), uint32(7))
	f.Add("-prom-conf", "", "", "StatefulSet", "x", "apps/v1", uint16(2), uint32(0))
	f.Fuzz(func(t *testing.T, name, label, keep, ownerKind, ownerName, ownerAPI string, owners uint16, big uint32) {
		m := hostileMeta(name, label, keep, ownerKind, ownerName, ownerAPI, owners, big)
		app := finishedView()
		kind, reason := app.Judge(m)
		if kind != rule.KindOf(name) {
			t.Fatalf("kind %q for %q, KindOf says %q", kind, name, rule.KindOf(name))
		}
		_, _, swept := rule.Verdict(m, app, nil, rule.AgeRule{Now: ruleNow, OrphanOlderThan: 1}, rule.Mark{RV: "1000"})
		if reason.Keeps() && !swept.Keeps() {
			t.Fatalf("sweep let %q through though judge keeps it: %q", name, reason)
		}
		if reason.Keeps() {
			return
		}
		// Let through: the evidence must be there.
		if keep == "true" {
			t.Fatalf("%q annotated keep was let through", name)
		}
		switch {
		case len(m.OwnerReferences) == 0:
			if rule.KindOf(name) != rule.KindExecutorConf || m.Labels[rule.LabelAppSelector] != ruleAppID {
				t.Fatalf("ownerless %q labelled %q let through", name, label)
			}
		default:
			for _, r := range m.OwnerReferences {
				byDriver := r.Kind == "Pod" && r.APIVersion == "v1" && r.UID == "uid-driver"
				byApp := r.Kind == "SparkApplication" && strings.HasPrefix(r.APIVersion, "sparkoperator.k8s.io/") && r.UID == "uid-app"
				if !byDriver && !byApp {
					t.Fatalf("%q owned by %s %s %s let through", name, r.APIVersion, r.Kind, r.UID)
				}
			}
		}
		if label != "" && label != ruleAppID {
			t.Fatalf("%q labelled for %q let through", name, label)
		}
	})
}

func FuzzSparkApplicationsOfAnyShapeAreReadWithoutPanic(f *testing.F) {
	f.Add([]byte(`{"metadata":{"name":"etl"},"spec":{"sparkConfigMap":"team","driver":{"configMaps":[{"name":"a"},{"name":7},"x"]}},"status":{"applicationState":{"state":"COMPLETED"},"terminationTime":"2026-11-27T10:00:00Z"}}`))
	f.Add([]byte(`{"spec":{"driver":{"configMaps":"not a list"}},"status":{"applicationState":"RUNNING","terminationTime":7}}`))
	f.Add([]byte(`{"status":{"terminationTime":"yesterday","sparkApplicationId":["a"]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var obj map[string]any
		if err := json.Unmarshal(data, &obj); err != nil {
			return
		}
		a := rule.ParseSparkApp(&unstructured.Unstructured{Object: obj})
		if a.Terminal() && !map[string]bool{"COMPLETED": true, "FAILED": true, "SUBMISSION_FAILED": true}[a.State] {
			t.Fatalf("state %q read as terminal", a.State)
		}
	})
}

// TestJudgingHostileMetadataTakesMemoryInProportion: a map with 10,000
// owner references, a 1 MiB annotation and names at the length limits is
// judged with a handful of allocations, none of them copies of the object.
func TestJudgingHostileMetadataTakesMemoryInProportion(t *testing.T) {
	m := hostileMeta(strings.Repeat("a", 229)+"-driver-podspec-conf-map", ruleAppID, "", "Pod", strings.Repeat("d", 253), "v1", 10000, 1<<20-1)
	app := finishedView()
	var reason rule.Reason
	allocs := testing.AllocsPerRun(20, func() {
		_, reason = app.Judge(m)
	})
	if !reason.Keeps() {
		t.Fatal("a map with 10,000 owners, most of them unknown, was let through")
	}
	if allocs > 10 {
		t.Fatalf("judging allocated %.0f times", allocs)
	}
	pod := &corev1.Pod{}
	for i := range 5000 {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: fmt.Sprint(i), VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "same"}}}})
	}
	if refs := rule.PodConfigMapRefs(pod); len(refs) != 1 {
		t.Fatalf("5,000 references to one map listed %d times", len(refs))
	}
}
