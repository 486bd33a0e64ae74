package main

import (
	"math"
	"testing"
	"time"
)

func TestPreconditionCostPoolsTheMeanDeleteOfEachKindOverTheRounds(t *testing.T) {
	pc := &preconditionCost{rounds: []childResult{
		// 2.0 ms without, 2.2 ms with, ...
		{UIDDeletes: 100, UIDNanos: int64(200 * time.Millisecond), RVDeletes: 100, RVNanos: int64(220 * time.Millisecond)},
		// ... and a slower round: 4.0 ms without, 4.0 ms with.
		{UIDDeletes: 100, UIDNanos: int64(400 * time.Millisecond), RVDeletes: 100, RVNanos: int64(400 * time.Millisecond)},
	}}
	uid, rv := pc.means()
	if uid != 3*time.Millisecond || rv != 3100*time.Microsecond {
		t.Fatalf("means %s without, %s with; want 3ms and 3.1ms", uid, rv)
	}
	if got := pc.cost(); math.Abs(got-0.1/3) > 1e-9 {
		t.Fatalf("cost %.4f, want %.4f", got, 0.1/3)
	}
	if got := (&preconditionCost{}).cost(); got != 0 {
		t.Fatalf("cost of no rounds %v", got)
	}
}
