package controller

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
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
