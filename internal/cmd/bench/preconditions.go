package main

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Issue 8 added a resourceVersion precondition to every delete, beside the
// UID one. Its cost is the difference between two floors that differ only
// in it, run in alternation on identical namespaces (the median of the
// rounds, since one round of each is within the machine's noise).

type preconditionCost struct {
	uid, rv []time.Duration
	maps    int
}

func (p *preconditionCost) medians() (uid, rv time.Duration) { return median(p.uid), median(p.rv) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// seedPreconditions seeds two identical namespaces per round.
func (b *bench) seedPreconditions(ctx context.Context) ([][2]*backlog, error) {
	var out [][2]*backlog
	for r := range b.o.preRounds {
		var pair [2]*backlog
		for i, kind := range []string{"uid", "rv"} {
			bl, err := b.a.seedBacklog(ctx, fmt.Sprintf("preconditions-%s-%d", kind, r), b.o.preMaps, 5, b.o.dataBytes, b.logf)
			if err != nil {
				return nil, err
			}
			pair[i] = bl
		}
		out = append(out, pair)
	}
	return out, nil
}

func (b *bench) preconditions(ctx context.Context, rep *report, pairs [][2]*backlog) error {
	pc := &preconditionCost{maps: b.o.preMaps}
	for r, pair := range pairs {
		// Alternate which goes first, so that neither always runs on the
		// emptier control plane.
		order := []int{0, 1}
		if r%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			b.logf("issue 8: floor with %s preconditions in %s (round %d)", map[int]string{0: "UID", 1: "UID and resourceVersion"}[i], pair[i].ns, r+1)
			m, _, err := b.floorChild(ctx, pair[i], i == 1)
			if err != nil {
				return err
			}
			if i == 0 {
				pc.uid = append(pc.uid, m.wall)
			} else {
				pc.rv = append(pc.rv, m.wall)
			}
		}
	}
	uid, rv := pc.medians()
	rep.preconditions = pc
	rep.add(row{issue: "8", run: fmt.Sprintf("cost of the resourceVersion precondition: floor, %d workers, UID + resourceVersion vs UID only", b.o.floorWorkers),
		scope: fmt.Sprintf("%d rounds of two identical namespaces of %s maps", len(pairs), num(pc.maps)),
		wall:  fmt.Sprintf("%s vs %s (medians)", dur(rv), dur(uid)), perMap: fmt.Sprintf("%s vs %s", perMap(rv, pc.maps), perMap(uid, pc.maps)),
		notes: fmt.Sprintf("UID only: %s; with resourceVersion: %s", durs(pc.uid), durs(pc.rv))})
	return nil
}

func durs(ds []time.Duration) string {
	s := ""
	for i, d := range ds {
		if i > 0 {
			s += ", "
		}
		s += dur(d)
	}
	return s
}

func (r *report) preconditionTargets(check func(bool, string, ...any), na func(string)) {
	if r.preconditions == nil {
		na("issue 8: the resourceVersion precondition costs at most 5% of the deletes")
		return
	}
	uid, rv := r.preconditions.medians()
	cost := float64(rv)/float64(uid) - 1
	check(cost <= 0.05, "issue 8: the resourceVersion precondition costs at most 5%% of the deletes: %+.1f%% (median %s vs %s)", cost*100, dur(rv), dur(uid))
}
