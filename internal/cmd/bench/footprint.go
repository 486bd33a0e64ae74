package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// Issue 13: what the binary costs before it does any work. Its size, and
// the peak RSS of a run that does almost nothing: `version` (no API call)
// and a cleanup of an application whose maps are already gone (the clients
// built, a handful of requests). Every other row's peak RSS stands on this.
const (
	rowFootprint  = "footprint"
	footprintRuns = 5
	footprintNS   = "footprint"
	footprintApp  = "footprint-etl"
)

func init() { allRows = append(allRows, rowFootprint) }

func (b *bench) footprint(ctx context.Context, rep *report) error {
	if !b.o.rows[rowFootprint] {
		return nil
	}
	st, err := os.Stat(b.o.bin)
	if err != nil {
		return err
	}
	size := fmt.Sprintf("binary %s (%.1f MB) on disk", mib(st.Size()/1024), float64(st.Size())/1e6)
	b.logf("issue 13: %s; sparkcm-hook version, %d times", size, footprintRuns)
	if err := b.idleRow(ctx, rep, "`sparkcm-hook version`", "no API call", size, nil, "version"); err != nil {
		return err
	}

	if err := b.a.cp.CreateNamespace(ctx, footprintNS); err != nil {
		return err
	}
	if _, err := sparkfixture.Create(ctx, b.a.kube, b.a.dyn, footprintNS, sparkfixture.Spec{Name: footprintApp}); err != nil {
		return err
	}
	args := []string{"cleanup", "--kubeconfig", b.kubeconfig, "-n", footprintNS, "--spark-app", footprintApp, "-o", "json"}
	// The first cleanup deletes the application's maps; the measured ones
	// find nothing left to delete.
	p, err := run(ctx, b.env(), b.o.bin, args...)
	if err != nil {
		return err
	}
	if p.exitCode != 0 {
		return fmt.Errorf("the first cleanup in %s exited %d:\n%s", footprintNS, p.exitCode, tail(p.stderr, 20))
	}
	b.logf("issue 13: sparkcm-hook cleanup of an application with nothing left to delete, %d times", footprintRuns)
	return b.idleRow(ctx, rep, "`sparkcm-hook cleanup --spark-app X` with nothing to delete", "1 finished app whose maps are gone", size,
		func(p proc) error {
			res, err := parseResult(p)
			if err != nil {
				return err
			}
			if p.exitCode != 0 || len(res.Deleted) != 0 {
				return fmt.Errorf("cleanup with nothing to delete: exit %d, %d deleted:\n%s", p.exitCode, len(res.Deleted), tail(p.stderr, 20))
			}
			return nil
		}, args...)
}

// idleRow runs the binary footprintRuns times and reports the median run
// (by peak RSS) and every run's peak RSS.
func (b *bench) idleRow(ctx context.Context, rep *report, what, scope, size string, check func(proc) error, args ...string) error {
	type measured struct {
		p    proc
		reqs requests
	}
	var runs []measured
	for range footprintRuns {
		p, reqs, err := b.measured(ctx, b.env(), b.o.bin, args...)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(p); err != nil {
				return err
			}
		} else if p.exitCode != 0 {
			return fmt.Errorf("%s exited %d:\n%s", what, p.exitCode, tail(p.stderr, 20))
		}
		runs = append(runs, measured{p, reqs})
	}
	rss := make([]int64, len(runs))
	for i, r := range runs {
		rss[i] = r.p.maxRSS
	}
	slices.SortFunc(runs, func(a, b measured) int { return int(a.p.maxRSS - b.p.maxRSS) })
	med := runs[len(runs)/2]
	b.logf("  median %s, peak RSS %s (all runs: %s); requests %s", med.p.wall.Round(time.Millisecond), mib(med.p.maxRSS), mibs(rss), med.reqs)
	requests, notes := "0", size
	if med.reqs.total > 0 {
		requests = fmt.Sprint(med.reqs.total)
		notes += "; " + verbs(med.reqs)
	}
	rep.add(row{
		issue:    "13",
		run:      what,
		scope:    scope,
		wall:     dur(med.p.wall),
		perMap:   "-",
		rss:      mib(med.p.maxRSS),
		requests: requests,
		deleted:  "-",
		lost:     "-",
		notes:    fmt.Sprintf("%s; median of %d runs, peak RSS of each: %s", notes, footprintRuns, mibs(rss)),
	})
	return nil
}
