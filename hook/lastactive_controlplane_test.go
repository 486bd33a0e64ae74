package hook_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// clientModeMap is the executor map a client-mode driver (outside the
// cluster) leaves: no owner, Spark's name, its application's labels.
func clientModeMap(name, id string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{rule.LabelAppSelector: id, rule.LabelRole: rule.RoleExecutor}}}
}

func executorPod(name, id, confMap string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{rule.LabelAppSelector: id, rule.LabelRole: rule.RoleExecutor}},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{cmVolume(confMap)}}}
}

// TestSweepKeepsAClientModeMapWhoseExecutorsItSawRunMinutesAgo is the
// client-mode session idling at zero executors: its executors ran, a sweep
// saw them, Spark deleted them; minutes later, with the map older than
// --orphan-older-than and no Pod of the application left, the next sweep
// keeps the map, counting quiet time from the last-active stamp the first
// sweep left. The same history unseen by any sweep (no stamp) is deleted:
// without the stamp, nothing in the cluster shows the session ran.
// The sweeps' clock (SweepOptions.Now) is set 8 days ahead, so that maps
// created now are older than the 7-day bound without waiting for it.
func TestSweepKeepsAClientModeMapWhoseExecutorsItSawRunMinutesAgo(t *testing.T) {
	ns := cp.NewNamespace(t)
	_, c := admin(t)
	const (
		seenID, seenMap     = "spark-0123456789abcdef0123456789abcdef", "spark-exec-0123456789abcdef-conf-map"
		unseenID, unseenMap = "spark-fedcba9876543210fedcba9876543210", "spark-exec-fedcba9876543210-conf-map"
	)
	createMap(t, ns, clientModeMap(seenMap, seenID))
	createMap(t, ns, clientModeMap(unseenMap, unseenID))
	// The unseen session's executor ran and went before any sweep.
	createPod(t, ns, executorPod("unseen-exec-1", unseenID, unseenMap), corev1.PodRunning)
	deletePod(t, ns, "unseen-exec-1")
	createPod(t, ns, executorPod("seen-exec-1", seenID, seenMap), corev1.PodRunning)

	ahead := time.Now().Add(8 * 24 * time.Hour)
	o := hook.SweepOptions{Namespace: ns, OlderThan: time.Hour, Now: func() time.Time { return ahead }}
	res, err := sweep(t, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(res.Deleted), unseenMap) || slices.Contains(names(res.Deleted), seenMap) {
		t.Fatalf("first sweep deleted %v: want %s (no Pod, older than the bound) and not %s (its executor runs)", names(res.Deleted), unseenMap, seenMap)
	}
	kube, _ := admin(t)
	m, err := kube.CoreV1().ConfigMaps(ns).Get(ctxFor(t), seenMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Annotations[rule.AnnotationLastActive], ahead.UTC().Format(time.RFC3339); got != want {
		t.Fatalf("the running session's map is stamped %q, want %q (the sweep's now)", got, want)
	}

	// Spark deletes the finished executor; the next sweep comes minutes
	// later. The unseen session's map shows what the same history looks
	// like with no stamp: created alike, it is recreated and goes.
	deletePod(t, ns, "seen-exec-1")
	createMap(t, ns, clientModeMap(unseenMap, unseenID))
	later := ahead.Add(5 * time.Minute)
	o.Now = func() time.Time { return later }
	res, err = sweep(t, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !slices.Equal(got, []string{unseenMap}) {
		t.Errorf("second sweep deleted %v, want only %s", got, unseenMap)
	}
	var kept *hook.Entry
	for i, e := range res.Skipped {
		if e.Name == seenMap {
			kept = &res.Skipped[i]
		}
	}
	if kept == nil || !strings.Contains(kept.Reason, "last seen 5m") {
		t.Errorf("the session's map: %+v, want kept as last seen about 5m ago", kept)
	}
}
