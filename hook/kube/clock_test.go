package kube

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestServerClockNeverOverstatesAges(t *testing.T) {
	local := time.Now()
	for _, tc := range []struct {
		name  string
		dates []time.Duration // each answer's Date minus the local time it arrived
		want  time.Duration   // the offset At applies
	}{
		{"no answer: the local clock", nil, 0},
		{"one server an hour ahead, answers arriving late", []time.Duration{time.Hour - 2*time.Second, time.Hour - time.Second, time.Hour - 5*time.Second}, time.Hour - 5*time.Second},
		// A proxy in front of two replicas whose clocks differ: the stamps
		// may come from the one behind, so its offset counts, whatever
		// order the answers came in.
		{"two replicas, the fast one first", []time.Duration{10 * time.Minute, 0}, 0},
		{"two replicas, the slow one first", []time.Duration{-3 * time.Minute, 10 * time.Minute}, -3 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c ServerClock
			for _, d := range tc.dates {
				c.observe(local.Add(d), local)
			}
			if got, want := c.At(local), local.Add(tc.want); !got.Equal(want) {
				t.Fatalf("At = %v, want %v (offset %v)", got, want, tc.want)
			}
		})
	}
}

func TestServerClockWarnsOnceOfALargeSkew(t *testing.T) {
	local := time.Now()
	for _, tc := range []struct {
		name  string
		dates []time.Duration
		warn  bool
	}{
		{"a second off: quiet", []time.Duration{-time.Second, 0}, false},
		{"the local clock an hour fast", []time.Duration{-time.Hour}, true},
		{"the local clock two minutes slow", []time.Duration{2 * time.Minute}, true},
		{"two replicas ten minutes apart", []time.Duration{0, 10 * time.Minute}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c ServerClock
			for _, d := range tc.dates {
				c.observe(local.Add(d), local)
			}
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			c.WarnSkew(log)
			c.WarnSkew(log)
			warned := strings.Count(buf.String(), "level=WARN")
			if want := map[bool]int{true: 1, false: 0}[tc.warn]; warned != want {
				t.Fatalf("%d warnings, want %d:\n%s", warned, want, buf.String())
			}
		})
	}
}
