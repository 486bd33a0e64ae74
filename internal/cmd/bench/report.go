package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// row is one line of the table.
type row struct {
	issue, run, scope, wall, perMap, rss, requests, deleted, lost, notes string
}

// measurement is what the targets are computed from.
type measurement struct {
	wall   time.Duration
	perMap time.Duration
	rss    int64 // KiB
	lost   int
	ok     bool
}

type report struct {
	o    *options
	rows []row
	// 1-minute load averages when the rows started and ended.
	loadBefore, loadAfter string
	version               string  // sparkcm-hook version (git describe)
	sweepDryRSS           []int64 // KiB, sweep --dry-run over an identical namespace

	cleanupRequests, cleanupRequestsEmpty int
	sweep, floor, deleteCollection        measurement
	janitor                               measurement // wall and perMap extrapolated; zero when not run

	// Issue 11: perMap is per account.
	inventory, shellInventory      measurement
	preconditions                  *preconditionCost
	inventoryRight, inventoryFound int

	// Issue 12: the throttled sweep and the unthrottled one at 3.
	throttled, unthrottled3 measurement

	// ctl is the controller's section; nil when none of its rows ran.
	ctl *ctlReport

	// exact is, for every sweep row, whether it deleted exactly what the
	// seed meant to go.
	exact []exactCheck
}

func (r *report) add(x row) { r.rows = append(r.rows, x) }

func (r *report) print(w io.Writer, cpus int, now time.Time) {
	fmt.Fprintf(w, "sparkcm-hook %s, %s, %d CPUs, one local control plane (etcd + kube-apiserver on loopback); load average %s before the rows, %s after\n\n",
		r.version, now.UTC().Format("2006-01-02 15:04 MST"), cpus, r.loadBefore, r.loadAfter)
	check := func(ok bool, format string, args ...any) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "- %s %s\n", verdict, fmt.Sprintf(format, args...))
	}
	na := func(what string) { fmt.Fprintf(w, "- n/a %s (not run)\n", what) }
	if r.ctl != nil {
		// Printed first: the other rows' targets end with an early return.
		defer r.ctl.print(w, check)
	}
	if !r.o.mainRows() {
		return
	}
	fmt.Fprintln(w, "| Issue | Run | Scope | Wall time | Per map | Peak RSS | API requests | Deleted | In-use maps lost | Notes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range r.rows {
		table(w, x.issue, x.run, x.scope, x.wall, x.perMap, x.rss, x.requests, x.deleted, x.lost, x.notes)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets:")
	if r.cleanupRequests > 0 {
		check(r.cleanupRequests == r.cleanupRequestsEmpty,
			"issue 3: one cleanup sends a constant number of requests: %d in the busy namespace, %d in an empty one",
			r.cleanupRequests, r.cleanupRequestsEmpty)
	} else {
		na("issue 3: one cleanup sends a constant number of requests")
	}
	for _, c := range r.exact {
		check(c.ok(), "%s", c.line())
	}
	r.inventoryTargets(check, na)
	r.preconditionTargets(check, na)
	r.throttledTargets(check, na)
	if r.sweep.perMap == 0 {
		na("issue 4: the sweep's targets")
		return
	}
	if r.floor.perMap > 0 {
		ratio := float64(r.sweep.perMap) / float64(r.floor.perMap)
		check(r.sweep.ok && ratio <= 1.25, "issue 4: sweep per map %s <= 1.25 x floor %s (%.2fx)", durPrec(r.sweep.perMap), durPrec(r.floor.perMap), ratio)
	} else {
		na("issue 4: sweep per map <= 1.25 x floor")
	}
	if r.janitor.perMap > 0 {
		speedup := float64(r.janitor.perMap) / float64(r.sweep.perMap)
		check(speedup >= 500, "issue 4: sweep at least 500x faster than the shell janitor per map: %s vs %s (%.0fx)", durPrec(r.sweep.perMap), durPrec(r.janitor.perMap), speedup)
	} else {
		na("issue 4: sweep at least 500x faster than the shell janitor per map")
	}
	if r.sweep.rss > 0 {
		spread := ""
		if len(r.sweepDryRSS) > 0 {
			spread = fmt.Sprintf(" (sweep --dry-run over an identical namespace: %s)", mibs(r.sweepDryRSS))
		}
		check(r.sweep.rss <= 64*1024, "issue 4: sweep peak RSS %s <= 64 MiB%s", mib(r.sweep.rss), spread)
	} else {
		fmt.Fprintln(w, "- n/a issue 4: sweep peak RSS <= 64 MiB (GNU time, which measures it, is not installed)")
	}
	check(r.sweep.ok && r.sweep.lost == 0, "issue 4: sweep lost 0 in-use maps (lost %d)", r.sweep.lost)
}

// table prints one markdown table row.
func table(w io.Writer, cells ...string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

// print writes the controller's table and its targets.
func (c *ctlReport) print(w io.Writer, check func(bool, string, ...any)) {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Controller:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Measures | Run | Scope | Applications | p50 | p99 | Peak RSS | API requests per application | Notes |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, x := range c.rows {
		table(w, x.what, x.run, x.scope, x.apps, x.p50, x.p99, x.rss, x.requests, x.notes)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Targets:")
	if len(c.leak) > 0 || c.leakNotCleaned > 0 {
		p99 := percentile(c.leak, 0.99)
		gc := ""
		if len(c.gc) > 0 {
			gc = fmt.Sprintf(" (the garbage collector's, same run: p99 %s)", durPrec(percentile(c.gc, 0.99)))
		}
		check(c.leakNotCleaned == 0 && p99 <= leakTarget, "controller leak window p99 %s <= %s, every application cleaned (%d not)%s",
			durPrec(p99), dur(leakTarget), c.leakNotCleaned, gc)
		check(c.cleanupRequests > 0 && c.ctlRequests <= float64(c.cleanupRequests),
			"controller API requests per cleaned application %.1f <= cleanup --driver-pod's %d", c.ctlRequests, c.cleanupRequests)
	}
	if c.memory > 0 {
		check(c.memory <= ctlMemoryTarget, "controller peak RSS %s <= 64 MiB watching %s Spark Pods and %s maps", mib(c.memory), num(c.memPods), num(c.memMaps))
	}
}

// num writes 10000 as 10,000.
func num(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return fmt.Sprintf("%.1f min", d.Minutes())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
}

// durPrec is dur with more digits below a second (per-map times).
func durPrec(d time.Duration) string {
	if d >= time.Second {
		return dur(d)
	}
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func perMap(wall time.Duration, maps int) string {
	return durPrec(wall / time.Duration(maps))
}

func mib(kib int64) string {
	if kib <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

func mibs(kib []int64) string {
	parts := make([]string, len(kib))
	for i, k := range kib {
		parts[i] = mib(k)
	}
	return strings.Join(parts, ", ")
}

func sortStrings(s []string) { sort.Strings(s) }

func (r *report) inventoryTargets(check func(bool, string, ...any), na func(string)) {
	if r.inventory.perMap == 0 || r.shellInventory.perMap == 0 {
		na("issue 11: rbac inventory at least 100x faster per account than the shell inventory, with every row it gets right")
		return
	}
	speedup := float64(r.shellInventory.perMap) / float64(r.inventory.perMap)
	check(r.inventory.ok && speedup >= 100, "issue 11: rbac inventory at least 100x faster per account than the shell inventory: %s vs %s (%.0fx)",
		durPrec(r.inventory.perMap), durPrec(r.shellInventory.perMap), speedup)
	check(r.inventoryRight > 0 && r.inventoryFound == r.inventoryRight, "issue 11: every row the shell inventory gets right is in ours: %d of %d",
		r.inventoryFound, r.inventoryRight)
}
