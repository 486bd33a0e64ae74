package hook_test

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// Objects with hostile content, as the API server stores them: judged
// without panics, kept, and the namespace's real leftovers still go.
func TestHostileObjectsAreJudgedWithoutPanicsAndKept(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	driverUID := app.DriverUID
	hex := "0123456789abcdef"
	var owners []metav1.OwnerReference
	for i := range 10000 {
		owners = append(owners, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: fmt.Sprintf("p%d", i), UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))})
	}
	// The real driver among 9,999 strangers: another owner keeps it.
	owners[5000] = metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: app.DriverPod, UID: driverUID}
	hostile := []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "spark-drv-" + hex + "-conf-map", OwnerReferences: owners}},
		{ObjectMeta: metav1.ObjectMeta{Name: "spark-exec-" + hex + "-conf-map", Labels: map[string]string{rule.LabelAppSelector: strings.Repeat("s", 63), rule.LabelRole: rule.RoleExecutor},
			Annotations: map[string]string{"huge": strings.Repeat("\u00e9\u2603", 40000), rule.AnnotationKeep: "true"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("x", 253-len("-driver-podspec-conf-map")) + "-driver-podspec-conf-map",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod\nerror: injected", Name: strings.Repeat("n", 253), UID: "11111111-2222-3333-4444-555555555555"}}},
			BinaryData: map[string][]byte{"blob": {0xff, 0xfe, 0x00, 0xc3, 0x28}}, Data: map[string]string{"text": "ok"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "spark-exec-" + strings.Repeat("f", 253-len("spark-exec--conf-map")) + "-conf-map",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: app.DriverPod, UID: driverUID}},
			Labels:          map[string]string{rule.LabelAppSelector: "spark-" + strings.Repeat("9", 57), rule.LabelRole: rule.RoleExecutor}}},
	}
	var keep []string
	for _, m := range hostile {
		keep = append(keep, createMap(t, ns, m).Name)
	}
	// A Pod with thousands of references to maps keeps one of them.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "many-refs"}}
	for i := range 2000 {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: fmt.Sprintf("cm-%d", i%50)}}}})
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, cmVolume(app.ExecutorConfMap))
	createPod(t, ns, pod, corev1.PodRunning)
	keep = append(keep, app.ExecutorConfMap)

	_, c := admin(t)
	for _, command := range []string{"cleanup", "sweep"} {
		var res *hook.Result
		var err error
		if command == "cleanup" {
			res, err = cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
		} else {
			res, err = sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: 0})
		}
		if err != nil {
			t.Fatalf("%s: %v", command, err)
		}
		left := mapNames(t, ns)
		for _, k := range keep {
			if !contains(left, k) {
				t.Fatalf("%s deleted the hostile %.60s...", command, k)
			}
		}
		for _, e := range append(res.Skipped, res.Deleted...) {
			if strings.ContainsAny(e.Reason, "\n\r") {
				t.Errorf("%s: the reason for %.60s spans lines: %q", command, e.Name, e.Reason)
			}
		}
	}
	if got := mapNames(t, ns); len(got) != len(keep) {
		t.Fatalf("left %d maps, want only the %d to keep: %v", len(got), len(keep), got)
	}
}
