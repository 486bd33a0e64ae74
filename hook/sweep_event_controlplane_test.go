package hook_test

import (
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func sweepEvents(t *testing.T, ns string) []corev1.Event {
	t.Helper()
	kube, _ := admin(t)
	l, err := kube.CoreV1().Events(ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Event
	for _, e := range l.Items {
		if e.Source.Component == "sparkcm-hook" {
			out = append(out, e)
		}
	}
	return out
}

// Like cleanup, sweep leaves a summary Event where it worked, which the
// real API server accepts and `kubectl get events -n NS` shows; not in a
// dry run, not with NoEvent.
func TestSweepRecordsASummaryEventInEachNamespaceItSwept(t *testing.T) {
	_, c := admin(t)
	busy, quiet := cp.NewNamespace(t), cp.NewNamespace(t)
	app := newApp(t, busy, sparkfixture.Spec{Executors: 1})
	deleted := len(app.MapNames())

	for _, o := range []hook.SweepOptions{
		{Namespaces: []string{busy, quiet}, DryRun: true},
		{Namespaces: []string{busy, quiet}, NoEvent: true, OlderThan: 1000 * time.Hour}, // decides, deletes nothing
	} {
		if _, err := sweep(t, c, o); err != nil {
			t.Fatal(err)
		}
		for _, ns := range []string{busy, quiet} {
			if ev := sweepEvents(t, ns); len(ev) != 0 {
				t.Fatalf("dry run %v, no event %v: recorded %+v", o.DryRun, o.NoEvent, ev)
			}
		}
	}

	if _, err := sweep(t, c, hook.SweepOptions{Namespaces: []string{busy, quiet}}); err != nil {
		t.Fatal(err)
	}
	for ns, msg := range map[string]string{
		busy:  "sparkcm-hook sweep deleted " + itoa(deleted) + ", skipped 0, failed 0 ConfigMap(s)",
		quiet: "sparkcm-hook sweep deleted 0, skipped 0, failed 0 ConfigMap(s)",
	} {
		ev := sweepEvents(t, ns)
		if len(ev) != 1 {
			t.Fatalf("%s: want one summary Event, got %+v", ns, ev)
		}
		e := ev[0]
		if e.Reason != "SparkConfigMapsSwept" || e.Type != corev1.EventTypeNormal || e.Message != msg ||
			e.InvolvedObject.Kind != "Namespace" || e.InvolvedObject.Name != ns {
			t.Errorf("%s: got %s %s %q about %s %s, want Normal SparkConfigMapsSwept %q about Namespace %s",
				ns, e.Type, e.Reason, e.Message, e.InvolvedObject.Kind, e.InvolvedObject.Name, msg, ns)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
