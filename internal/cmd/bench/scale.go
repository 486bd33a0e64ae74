package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Issue 14: the sweep at the scale users report. `make bench-scale` (the
// bench with --scale) seeds, on one control plane whose etcd quota is
// raised, a 10,000-map namespace, two identical 120,000-map namespaces
// (one for the sweep, one for the floor) and the same 120,000 maps spread
// over 1,000 namespaces, each among 1,000 Pods (a fifth Running and
// mounting a leftover map), maps of 2 KiB. Then it measures, in this order:
// the sweep of 10,000, the sweep of 120,000, the floor on 120,000, and
// sweep -A over everything (last: it would take the other namespaces'
// maps too; by then only their in-use maps are left).

type scaleOptions struct {
	maps, namespaces, pods, dataBytes, small int
	// oneOnly seeds and measures only the 10,000- and 120,000-map
	// namespaces (the report and sweep rows).
	oneOnly bool
}

type scaleReport struct {
	rows                   []row
	small, one, floor, all measurement
	report                 measurement // report --sizes over the 120,000-map namespace, before its sweep
	smallMaps, oneMaps     int
	allMaps, namespaces    int
	lostSmall, lostOne     int
	lostAll                int
	loadBefore, loadAfter  string
	version                string
	seeded                 time.Duration
	etcdQuota              string
	exact                  []exactCheck
}

// etcdScaleQuota is etcd's backend quota for the scale run: 370,000 maps
// of 2 KiB and their history outgrow the 2 GiB default.
const etcdScaleQuota = "--quota-backend-bytes=8589934592"

func (b *bench) scale(ctx context.Context, stdout io.Writer) error {
	so := b.o.scale
	rep := &scaleReport{etcdQuota: etcdScaleQuota}
	seedStart := time.Now()
	b.logf("scale: seeding %s maps among %s Pods (and the same for the floor), %s spread over %d namespaces, and %s for the 10,000-map row",
		num(so.maps), num(so.pods), num(so.maps), so.namespaces, num(so.small))
	small, err := b.a.seedBacklog(ctx, "scale-small", so.small, so.pods, so.dataBytes, b.logf)
	if err != nil {
		return err
	}
	one, err := b.a.seedBacklog(ctx, "scale-one", so.maps, so.pods, so.dataBytes, b.logf)
	if err != nil {
		return err
	}
	b.logf("scale: seeded scale-one in %s", time.Since(seedStart).Round(time.Second))
	var floorNS *backlog
	var spread []*backlog
	perNS := so.maps / so.namespaces
	if !so.oneOnly {
		if floorNS, spread, err = b.seedFloorAndSpread(ctx, so); err != nil {
			return err
		}
	}
	rep.seeded = time.Since(seedStart)
	b.logf("scale: seeding took %s", rep.seeded.Round(time.Second))
	rep.loadBefore = loadavg()
	rep.version = binVersion(ctx, b.o.bin)

	// exactRow checks, after a sweep row, that the backlogs it swept hold
	// exactly their in-use maps.
	exactRow := func(p *proc, ledger string, bls ...*backlog) error {
		path, err := b.keepLedger(ledger, *p)
		if err != nil {
			return err
		}
		ex, err := b.exact(ctx, ledger, *p, path, bls...)
		if err != nil {
			return err
		}
		rep.exact = append(rep.exact, ex)
		return nil
	}
	sweepRow := func(name, scope string, maps int, args ...string) (measurement, *proc, error) {
		b.logf("scale: %s", name)
		p, reqs, err := b.measured(ctx, b.env(), b.o.bin, append([]string{"sweep", "--kubeconfig", b.kubeconfig, "--older-than", "0s", "-o", "json"}, args...)...)
		if err != nil {
			return measurement{}, nil, err
		}
		counts, err := parseCounts(p)
		if err != nil {
			return measurement{}, nil, err
		}
		b.logf("  exit %d, %s, peak RSS %s; deleted %d; requests %s\n%s", p.exitCode, p.wall.Round(time.Millisecond), mib(p.maxRSS), counts.Deleted, reqs, indent(tail(p.stderr, 4)))
		m := measurement{wall: p.wall, perMap: p.wall / time.Duration(maps), rss: p.maxRSS, ok: p.exitCode == 0}
		rep.rows = append(rep.rows, row{issue: "14", run: name, scope: scope, wall: dur(p.wall), perMap: perMap(p.wall, maps), rss: mib(p.maxRSS),
			requests: fmt.Sprint(reqs.total), deleted: num(counts.Deleted),
			notes: fmt.Sprintf("kept %s, failed %s; exit code %d", num(counts.Skipped), num(counts.Failed), p.exitCode)})
		return m, &p, nil
	}

	var p *proc
	if rep.small, p, err = sweepRow("`sparkcm-hook sweep -n NS --older-than 0s -o json`", backlogScope(small), small.maps, "-n", small.ns); err != nil {
		return err
	}
	if err := exactRow(p, small.ns, small); err != nil {
		return err
	}
	rep.smallMaps = small.maps
	if rep.lostSmall, _, err = b.check(ctx, small); err != nil {
		return err
	}
	rep.rows[len(rep.rows)-1].lost = fmt.Sprint(rep.lostSmall)

	// report reads what sweep reads and, with --sizes, lists the maps once
	// more in full: it must stay within the memory the sweep of the same
	// namespace needs. It runs first, while the backlog is whole.
	b.logf("scale: sparkcm-hook report -n %s --sizes", one.ns)
	rp, rreqs, err := b.measured(ctx, b.env(), b.o.bin, "report", "--kubeconfig", b.kubeconfig, "-n", one.ns, "--sizes", "-o", "json")
	if err != nil {
		return err
	}
	b.logf("  exit %d, %s, peak RSS %s; requests %s", rp.exitCode, rp.wall.Round(time.Millisecond), mib(rp.maxRSS), rreqs)
	rep.report = measurement{wall: rp.wall, perMap: rp.wall / time.Duration(one.maps), rss: rp.maxRSS, ok: rp.exitCode == 0}
	rep.rows = append(rep.rows, row{issue: "19", run: "`sparkcm-hook report -n NS --sizes -o json`", scope: backlogScope(one), wall: dur(rp.wall),
		perMap: perMap(rp.wall, one.maps), rss: mib(rp.maxRSS), requests: fmt.Sprint(rreqs.total), deleted: "0",
		notes: fmt.Sprintf("read-only; exit code %d", rp.exitCode)})

	if rep.one, p, err = sweepRow("`sparkcm-hook sweep -n NS --older-than 0s -o json`", backlogScope(one), one.maps, "-n", one.ns); err != nil {
		return err
	}
	if err := exactRow(p, one.ns, one); err != nil {
		return err
	}
	rep.oneMaps = one.maps
	if rep.lostOne, _, err = b.check(ctx, one); err != nil {
		return err
	}
	rep.rows[len(rep.rows)-1].lost = fmt.Sprint(rep.lostOne)

	if !so.oneOnly {
		b.logf("scale: the floor on %s (%d workers, UID and resourceVersion preconditions)", floorNS.ns, b.o.floorWorkers)
		fm, fr, err := b.floorChild(ctx, floorNS, true)
		if err != nil {
			return err
		}
		rep.floor = fm
		rep.rows = append(rep.rows, fr)

		allMaps := so.maps
		scope := fmt.Sprintf("%s maps in %s namespaces of %d, %s Pods (and the in-use maps the rows above kept)", num(allMaps), num(so.namespaces), perNS, num(so.pods))
		if rep.all, p, err = sweepRow("`sparkcm-hook sweep -A --older-than 0s -o json`", scope, allMaps, "-A"); err != nil {
			return err
		}
		// What the rows above left in their namespaces is judged again by -A
		// and must be exactly their in-use maps too.
		if err := exactRow(p, "all-namespaces", append([]*backlog{small, one}, spread...)...); err != nil {
			return err
		}
		rep.allMaps, rep.namespaces = allMaps, so.namespaces
		for _, bl := range append(spread, small, one) {
			lost, _, err := b.check(ctx, bl)
			if err != nil {
				return err
			}
			rep.lostAll += lost
		}
		rep.rows[len(rep.rows)-1].lost = fmt.Sprint(rep.lostAll)
	}
	rep.loadAfter = loadavg()
	rep.print(stdout)
	return exactFailure(rep.exact)
}

// seedFloorAndSpread seeds the floor's 120,000-map namespace and the same
// number of maps spread over so.namespaces.
func (b *bench) seedFloorAndSpread(ctx context.Context, so scaleOptions) (*backlog, []*backlog, error) {
	floorNS, err := b.a.seedBacklog(ctx, "scale-floor", so.maps, so.pods, so.dataBytes, b.logf)
	if err != nil {
		return nil, nil, err
	}
	perNS := so.maps / so.namespaces
	spread := make([]*backlog, so.namespaces)
	var mu sync.Mutex
	done := 0
	quiet := func(string, ...any) {}
	err = parallel(ctx, so.namespaces, 8, func(ctx context.Context, i int) error {
		running := 0
		if i%5 == 0 && so.pods >= 5 {
			running = 1 // a fifth of the namespaces hold a Running Pod, as a fifth of the Pods run
		}
		bl, err := b.a.seedBacklogSplit(ctx, fmt.Sprintf("scale-spread-%04d", i), perNS, running, so.pods/so.namespaces-running, so.dataBytes, quiet)
		if err != nil {
			return err
		}
		spread[i] = bl
		mu.Lock()
		done++
		if done%100 == 0 {
			b.logf("scale: seeded %d of %d spread namespaces", done, so.namespaces)
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return floorNS, spread, nil
}

// floorChild runs the floor as a child on a backlog and returns its
// measurement and row.
func (b *bench) floorChild(ctx context.Context, bl *backlog, withRV bool) (measurement, row, error) {
	args := []string{childFloor, "-kubeconfig", b.kubeconfig, "-n", bl.ns, "-workers", fmt.Sprint(b.o.floorWorkers)}
	pre := "UID preconditions"
	if withRV {
		args = append(args, "-rv")
		pre = "UID and resourceVersion preconditions"
	}
	p, reqs, err := b.measured(ctx, nil, b.self, args...)
	if err != nil {
		return measurement{}, row{}, err
	}
	var cr childResult
	if err := json.Unmarshal(p.stdout, &cr); err != nil {
		return measurement{}, row{}, fmt.Errorf("floor: no result (%w); stderr:\n%s", err, tail(p.stderr, 20))
	}
	lost, left, err := b.check(ctx, bl)
	if err != nil {
		return measurement{}, row{}, err
	}
	b.logf("  %s, peak RSS %s; requests %s; first error %q", p.wall.Round(time.Millisecond), mib(p.maxRSS), reqs, cr.FirstErr)
	m := measurement{wall: p.wall, perMap: p.wall / time.Duration(bl.maps), rss: p.maxRSS, lost: lost, ok: p.exitCode == 0}
	r := row{issue: "14", run: fmt.Sprintf("floor: bare Go client, %d workers, %s, no checks", b.o.floorWorkers, pre), scope: backlogScope(bl),
		wall: dur(p.wall), perMap: perMap(p.wall, bl.maps), rss: mib(p.maxRSS), requests: fmt.Sprint(reqs.total), deleted: num(bl.maps - left), lost: fmt.Sprint(lost),
		notes: "lists metadata once, then one DELETE per map; deletes in-use maps too"}
	return m, r, nil
}

// countsOnly is the part of -o json the scale rows read: a sweep of
// 120,000 maps prints a ledger far larger than the bench needs to hold.
type countsOnly struct {
	Counts struct {
		Deleted int `json:"deleted"`
		Skipped int `json:"skipped"`
		Failed  int `json:"failed"`
	} `json:"counts"`
}

func parseCounts(p proc) (c struct{ Deleted, Skipped, Failed int }, err error) {
	var r countsOnly
	if err := json.Unmarshal(p.stdout, &r); err != nil {
		return c, fmt.Errorf("sparkcm-hook exited %d without a JSON result (%w); stderr:\n%s", p.exitCode, err, tail(p.stderr, 20))
	}
	c.Deleted, c.Skipped, c.Failed = r.Counts.Deleted, r.Counts.Skipped, r.Counts.Failed
	return c, nil
}

func (r *scaleReport) print(w io.Writer) {
	fmt.Fprintf(w, "sparkcm-hook %s, %s, one local control plane (etcd %s); seeding took %s; load average %s before the rows, %s after\n\n",
		r.version, time.Now().UTC().Format("2006-01-02 15:04 MST"), strings.TrimPrefix(r.etcdQuota, "--"), r.seeded.Round(time.Second), r.loadBefore, r.loadAfter)
	fmt.Fprintln(w, "| Issue | Run | Scope | Wall time | Per map | Peak RSS | API requests | Deleted | In-use maps lost | Notes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range r.rows {
		cells := []string{x.issue, x.run, x.scope, x.wall, x.perMap, x.rss, x.requests, x.deleted, x.lost, x.notes}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets:")
	check := func(ok bool, format string, args ...any) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "- %s %s\n", verdict, fmt.Sprintf(format, args...))
	}
	check(r.one.ok && r.one.rss <= 64*1024, "issue 14: sweep peak RSS at %s maps %s <= 64 MiB", num(r.oneMaps), mib(r.one.rss))
	if r.report.rss > 0 {
		// Within what the sweep of the same namespace needs, with the 10%
		// two runs of one binary differ by (the 10,000- and 120,000-map
		// sweeps above).
		check(r.report.ok && float64(r.report.rss) <= 1.10*float64(r.one.rss), "issue 19: report --sizes peak RSS at %s maps %s within 10%% of what the sweep of the same namespace needs (%s)", num(r.oneMaps), mib(r.report.rss), mib(r.one.rss))
	}
	if r.small.rss > 0 {
		ratio := float64(r.one.rss) / float64(r.small.rss)
		check(ratio <= 1.10, "issue 14: peak RSS at %s maps within 10%% of %s maps: %s vs %s (%.2fx)", num(r.oneMaps), num(r.smallMaps), mib(r.one.rss), mib(r.small.rss), ratio)
	}
	if r.floor.perMap > 0 {
		ratio := float64(r.one.perMap) / float64(r.floor.perMap)
		check(r.one.ok && ratio <= 1.25, "issue 14: sweep per map at %s maps %s <= 1.25 x the floor %s (%.2fx)", num(r.oneMaps), durPrec(r.one.perMap), durPrec(r.floor.perMap), ratio)
	}
	if r.small.perMap > 0 {
		ratio := float64(r.one.perMap) / float64(r.small.perMap)
		check(ratio <= 1.2, "issue 14: sweep per map at %s maps within 1.2x of %s maps: %s vs %s (%.2fx)", num(r.oneMaps), num(r.smallMaps), durPrec(r.one.perMap), durPrec(r.small.perMap), ratio)
	}
	for _, c := range r.exact {
		check(c.ok(), "issue 14: %s", c.line())
	}
	lost := r.lostSmall + r.lostOne + r.lostAll
	check(lost == 0, "issue 14: 0 in-use maps lost (lost %d)", lost)
	if r.one.perMap > 0 && r.all.wall > 0 {
		ratio := float64(r.all.perMap) / float64(r.one.perMap)
		check(r.all.ok && ratio <= 1.25, "issue 14: sweep -A over %s namespaces per map within 1.25x of one namespace: %s vs %s (%.2fx)", num(r.namespaces), durPrec(r.all.perMap), durPrec(r.one.perMap), ratio)
		check(r.all.ok && r.all.rss <= 64*1024, "issue 14: sweep -A peak RSS %s <= 64 MiB", mib(r.all.rss))
	}
}

// binVersion is what the measured binary says its version is.
func binVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
