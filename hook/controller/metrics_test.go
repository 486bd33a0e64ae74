package controller

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// The leak histogram counts every application the controller saw end and
// then cleaned, also one whose end it saw again while a cleanup found it
// still running (its driver ended, then its SparkApplication completed).
func TestTheLeakTimeCountsAnApplicationSeenToEndAgainWhileACleanupFoundItRunning(t *testing.T) {
	done := &hook.Result{Counts: hook.Counts{Deleted: 2}}
	for _, tc := range []struct {
		name      string
		seenAgain bool
		want      uint64
	}{
		{"seen again while the cleanup that found it running ran", true, 1},
		{"not seen again: its next end starts the clock anew", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMetrics(func() int { return 0 })
			a := App{Namespace: "jobs", SparkApp: "etl"}
			m.sawEnd(a) // the driver ended
			mark := m.mark()
			if tc.seenAgain {
				m.sawEnd(a) // the SparkApplication completed meanwhile
			}
			m.forget(a, mark) // that cleanup found it still running
			m.cleaned(a, done, nil)
			var d dto.Metric
			if err := m.leak.Write(&d); err != nil {
				t.Fatal(err)
			}
			if got := d.GetHistogram().GetSampleCount(); got != tc.want {
				t.Fatalf("leak observations %d, want %d", got, tc.want)
			}
		})
	}
}

// Maps are counted by decision and, when skipped, by the kind of reason
// they were kept for: a cleanup's from the entries it lists, a sweep's
// from those it hands to its Record.
func TestMapsAreCountedByDecisionAndTheReasonTheyWereKept(t *testing.T) {
	entry := func(d hook.Decision, keep rule.Keep) hook.Entry { return hook.Entry{Decision: d, Keep: keep} }
	deleted, inUse, running := entry(hook.Deleted, ""), entry(hook.Skipped, rule.KeepInUse), entry(hook.Skipped, rule.KeepRunning)
	m := newMetrics(func() int { return 0 })
	m.count("cleanup", &hook.Result{Deleted: []hook.Entry{deleted, deleted}, Skipped: []hook.Entry{inUse, running, inUse},
		Counts: hook.Counts{Deleted: 2, Skipped: 3}}, nil, nil)
	swept := tally{}
	for _, e := range []hook.Entry{entry(hook.Skipped, rule.KeepTooYoung), deleted, entry(hook.Skipped, rule.KeepTooYoung)} {
		swept.add(e)
	}
	m.count("sweep", &hook.Result{Counts: hook.Counts{Deleted: 1, Skipped: 2}}, swept, nil)
	for _, tc := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"cleanup", "deleted", ""}, 2},
		{[]string{"cleanup", "skipped", "in-use"}, 2},
		{[]string{"cleanup", "skipped", "running"}, 1},
		{[]string{"cleanup", "failed", ""}, 0},
		{[]string{"sweep", "deleted", ""}, 1},
		{[]string{"sweep", "skipped", "too-young"}, 2},
	} {
		c, err := m.maps.GetMetricWithLabelValues(tc.labels...)
		if err != nil {
			t.Fatalf("%v: %v", tc.labels, err)
		}
		var d dto.Metric
		if err := c.Write(&d); err != nil {
			t.Fatal(err)
		}
		if got := d.GetCounter().GetValue(); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.labels, got, tc.want)
		}
	}
}
