package hook

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// A sweep's index holds whole only the driver Pods, the Pods whose fields
// judging reads; of every other Pod it keeps that it exists. A map owned
// by an executor Pod is still kept as another owner's, and the driver's
// finished application's map still goes.
func TestTheSweepIndexHoldsOnlyDriverPodsWhole(t *testing.T) {
	w := newMemWorld(t)
	driver := w.pod("jobs", "etl-driver", "spark-1", rule.RoleDriver, corev1.PodSucceeded, nil)
	for _, name := range []string{"etl-exec-1", "etl-exec-2"} {
		w.pod("jobs", name, "spark-1", rule.RoleExecutor, corev1.PodFailed, &driver)
	}
	execRef := w.pod("jobs", "etl-exec-3", "spark-1", rule.RoleExecutor, corev1.PodFailed, &driver)
	w.cm("jobs", "spark-drv-0000000000000001-conf-map", []string{rule.LabelAppSelector, "spark-1"}, driver)
	w.cm("jobs", "spark-exec-0000000000000001-conf-map", []string{rule.LabelAppSelector, "spark-1"}, execRef)

	s := &sweeper{c: w.clients(), log: memLogger, o: SweepOptions{PageSize: DefaultPageSize, Retry: RetryPolicy{Budget: DefaultRetryBudget}.WithDefaults()}}
	ix, err := s.index(context.Background(), "jobs")
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.podsByUID) != 1 || ix.podsByUID[driver.UID] == nil || len(ix.podsByName) != 1 {
		t.Errorf("whole Pods by UID %d and by name %d, want the driver alone", len(ix.podsByUID), len(ix.podsByName))
	}
	if len(ix.otherPods) != 3 {
		t.Errorf("other Pods %v, want the 3 executors", ix.otherPods)
	}

	later := func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	res, err := Sweep(context.Background(), w.clients(), memLogger, SweepOptions{Namespace: "jobs", OlderThan: time.Hour, Now: later, Retry: RetryPolicy{Budget: DefaultRetryBudget}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.maps("jobs"), []string{"spark-exec-0000000000000001-conf-map"}; !slices.Equal(got, want) {
		t.Errorf("maps left %v, want %v\nledger: %v", got, want, decided(res))
	}
	if why := decided(res)["spark-exec-0000000000000001-conf-map"]; !strings.Contains(why, string(rule.KeepOtherOwner)) {
		t.Errorf("the executor's map: %q, want it kept as another owner's", why)
	}
}
