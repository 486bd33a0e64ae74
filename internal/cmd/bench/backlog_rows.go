package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// backlogRows runs the four ways of clearing a backlog, each on its own
// identical namespace: the sweep first, then the floor (so that the floor,
// not the sweep, runs on the emptier control plane), DeleteCollection, and
// the shell janitor's sample.
func (b *bench) backlogRows(ctx context.Context, rep *report, backlogs map[string]*backlog) error {
	if bl := backlogs["sweep"]; bl != nil {
		if err := b.sweep(ctx, rep, bl); err != nil {
			return err
		}
	}
	if bl := backlogs["sweep"]; bl != nil && backlogs["janitor"] != nil {
		// Peak RSS varies from run to run; dry runs over the janitor's
		// identical namespace (before the janitor touches it) show by how
		// much.
		jb := backlogs["janitor"]
		for range 3 {
			p, err := run(ctx, b.env(), b.o.bin, "sweep", "--kubeconfig", b.kubeconfig, "-n", jb.ns, "--older-than", "0s", "--dry-run", "-o", "json")
			if err != nil {
				return err
			}
			if p.exitCode != 0 {
				return fmt.Errorf("sweep --dry-run in %s exited %d:\n%s", jb.ns, p.exitCode, tail(p.stderr, 20))
			}
			rep.sweepDryRSS = append(rep.sweepDryRSS, p.maxRSS)
		}
		b.logf("  sweep --dry-run over the identical %s, 3 times: peak RSS %s", jb.ns, mibs(rep.sweepDryRSS))
	}
	if bl := backlogs["floor"]; bl != nil {
		if err := b.inProcess(ctx, rep, bl, childFloor); err != nil {
			return err
		}
	}
	if bl := backlogs["deletecollection"]; bl != nil {
		if err := b.inProcess(ctx, rep, bl, childDeleteCollection); err != nil {
			return err
		}
	}
	if bl := backlogs["janitor"]; bl != nil {
		return b.janitor(ctx, rep, bl)
	}
	return nil
}

func (b *bench) sweep(ctx context.Context, rep *report, bl *backlog) error {
	b.logf("issue 4: sparkcm-hook sweep -n %s --older-than 0s over %d maps", bl.ns, bl.maps)
	p, reqs, err := b.measured(ctx, b.env(), b.o.bin, "sweep", "--kubeconfig", b.kubeconfig, "-n", bl.ns, "--older-than", "0s", "-o", "json")
	if err != nil {
		return err
	}
	res, err := parseResult(p)
	if err != nil {
		return err
	}
	b.logf("  exit %d, %s, peak RSS %s; requests %s\n%s", p.exitCode, p.wall.Round(time.Millisecond), mib(p.maxRSS), reqs, indent(tail(p.stderr, 6)))
	lost, left, err := b.check(ctx, bl)
	if err != nil {
		return err
	}
	path, err := b.keepLedger(bl.ns, p)
	if err != nil {
		return err
	}
	ex, err := b.exact(ctx, "sweep -n "+bl.ns, p, path, bl)
	if err != nil {
		return err
	}
	rep.exact = append(rep.exact, ex)
	reasons := map[string]int{}
	for _, s := range res.Skipped {
		r := s.Reason
		if strings.HasPrefix(r, "in use by Pod") {
			r = "in use by a Running Pod"
		}
		reasons[r]++
	}
	var why []string
	for r, n := range reasons {
		why = append(why, fmt.Sprintf("%d %s", n, r))
	}
	sortStrings(why)
	notes := fmt.Sprintf("kept %s; %d maps left in the namespace", orNone(strings.Join(why, ", ")), left)
	if len(res.Failed) > 0 {
		notes += fmt.Sprintf("; %d failed (first: %s)", len(res.Failed), res.Failed[0].Reason)
	}
	if p.exitCode != 0 {
		notes += fmt.Sprintf("; exit code %d", p.exitCode)
	}
	rep.sweep = measurement{wall: p.wall, perMap: p.wall / time.Duration(bl.maps), rss: p.maxRSS, lost: lost, ok: p.exitCode == 0}
	rep.add(row{
		issue:    "4",
		run:      "`sparkcm-hook sweep -n NS --older-than 0s` (the binary, CLI defaults)",
		scope:    backlogScope(bl),
		wall:     dur(p.wall),
		perMap:   perMap(p.wall, bl.maps),
		rss:      mib(p.maxRSS),
		requests: fmt.Sprint(reqs.total),
		deleted:  num(len(res.Deleted)),
		lost:     fmt.Sprint(lost),
		notes:    notes,
	})
	return nil
}

// inProcess runs the floor or DeleteCollection as a child of this program.
func (b *bench) inProcess(ctx context.Context, rep *report, bl *backlog, which string) error {
	args := []string{which, "-kubeconfig", b.kubeconfig, "-n", bl.ns}
	if which == childFloor {
		args = append(args, "-workers", fmt.Sprint(b.o.floorWorkers))
		b.logf("issue 4: the floor: a bare client deleting every map in %s, %d at a time, UID preconditions, no checks", bl.ns, b.o.floorWorkers)
	} else {
		b.logf("issue 4: one DeleteCollection of every ConfigMap in %s", bl.ns)
	}
	p, reqs, err := b.measured(ctx, nil, b.self, args...)
	if err != nil {
		return err
	}
	var cr childResult
	if err := json.Unmarshal(p.stdout, &cr); err != nil {
		return fmt.Errorf("%s: no result (%w); stderr:\n%s", which, err, tail(p.stderr, 20))
	}
	if cr.FirstErr != "" {
		b.logf("  first error: %s", cr.FirstErr)
	}
	b.logf("  %s, peak RSS %s; requests %s (the child's own transport sent %d and read %s of responses)",
		p.wall.Round(time.Millisecond), mib(p.maxRSS), reqs, cr.Requests, mb(cr.ResponseBytes))
	if int64(reqs.total) != cr.Requests {
		b.logf("  note: the API server counted %d requests, the client %d", reqs.total, cr.Requests)
	}
	lost, left, err := b.check(ctx, bl)
	if err != nil {
		return err
	}
	deleted := bl.maps - left
	m := measurement{wall: p.wall, perMap: p.wall / time.Duration(bl.maps), rss: p.maxRSS, lost: lost, ok: p.exitCode == 0}
	r := row{
		issue:    "4",
		scope:    backlogScope(bl),
		wall:     dur(p.wall),
		perMap:   perMap(p.wall, bl.maps),
		rss:      mib(p.maxRSS),
		requests: fmt.Sprint(reqs.total),
		deleted:  num(deleted),
		lost:     fmt.Sprint(lost),
	}
	if which == childFloor {
		rep.floor = m
		r.run = fmt.Sprintf("floor: bare Go client, %d workers, UID preconditions, no checks", b.o.floorWorkers)
		r.notes = fmt.Sprintf("lists metadata once, then one DELETE per map; client rate limit off; deletes in-use maps too; read %s of responses", mb(cr.ResponseBytes))
	} else {
		rep.deleteCollection = m
		r.run = "one server-side DeleteCollection (no selector)"
		r.notes = fmt.Sprintf("no label selects the unlabelled driver, pod-template, Hadoop and krb5 maps, so it takes the whole namespace; no safety checks at all; "+
			"the API server deletes one by one with one worker (--delete-collection-workers=1) and answers with every deleted map in full (%s read)", mb(cr.ResponseBytes))
	}
	if cr.Failed > 0 || p.exitCode != 0 {
		r.notes += fmt.Sprintf("; %d failed, exit code %d", cr.Failed, p.exitCode)
	}
	rep.add(r)
	return nil
}

// janitor runs the shell janitor twice: with LIMIT=0 (the one list of
// labelled maps it starts with) and with LIMIT=n (that list plus n maps),
// so the cost of one map is (sample - list) / n, and a full run over the
// whole backlog is extrapolated as list + maps x per map.
func (b *bench) janitor(ctx context.Context, rep *report, bl *backlog) error {
	base := row{issue: "4", run: "shell janitor `seed-janitor.sh` (DAYS=0, LIMIT=n)", scope: backlogScope(bl)}
	switch {
	case b.o.janitorSample == 0:
		base.wall, base.notes = "skipped (--janitor-sample 0)", ""
		rep.add(base)
		return nil
	case b.kubectl == "" || b.jq == "":
		base.wall = "n/a (kubectl or jq not installed)"
		rep.add(base)
		return nil
	}
	if _, err := os.Stat(b.o.janitor); err != nil {
		// The baseline scripts live beside the repository, not in it: a
		// lone clone has no ../shared. Say so in the table instead of
		// failing the whole run.
		base.wall = fmt.Sprintf("skipped (%s not found; set --janitor)", b.o.janitor)
		b.logf("issue 4: skipping the shell janitor row: %s not found", b.o.janitor)
		rep.add(base)
		return nil
	}
	runJanitor := func(limit int) (proc, requests, error) {
		return b.measured(ctx, b.env("NS="+bl.ns, "DAYS=0", fmt.Sprintf("LIMIT=%d", limit)), "bash", b.o.janitor)
	}
	b.logf("issue 4: shell janitor in %s: its first list alone (LIMIT=0)", bl.ns)
	pl, reqsList, err := runJanitor(0)
	if err != nil {
		return err
	}
	b.logf("  %s; requests %s", pl.wall.Round(time.Millisecond), reqsList)
	n := b.o.janitorSample
	b.logf("issue 4: shell janitor in %s on a sample of %d maps (LIMIT=%d)", bl.ns, n, n)
	p, reqs, err := runJanitor(n)
	if err != nil {
		return err
	}
	deleted, skipped := 0, 0
	sc := bufio.NewScanner(bytes.NewReader(p.stdout))
	for sc.Scan() {
		switch {
		case strings.HasPrefix(sc.Text(), "deleting "):
			deleted++
		case strings.HasPrefix(sc.Text(), "skip(in-use): "):
			skipped++
		}
	}
	processed := deleted + skipped
	b.logf("  exit %d, %s, largest process %s, %d deleted, %d skipped; requests %s", p.exitCode, p.wall.Round(time.Millisecond), mib(p.maxRSS), deleted, skipped, reqs)
	if processed == 0 {
		return fmt.Errorf("the shell janitor processed no map; stderr:\n%s", tail(p.stderr, 20))
	}
	lost, _, err := b.check(ctx, bl)
	if err != nil {
		return err
	}
	sample := bl.labelled[:min(processed, len(bl.labelled))]
	inSample := len(intersect(sample, bl.inUse))
	per := (p.wall - pl.wall) / time.Duration(processed)
	full := pl.wall + per*time.Duration(bl.maps)
	perReq := float64(reqs.total-reqsList.total) / float64(processed)
	rep.janitor = measurement{wall: full, perMap: per, rss: p.maxRSS, lost: lost, ok: p.exitCode == 0}
	base.scope = fmt.Sprintf("sample: the first %d of its %s labelled candidates; %s", processed, num(len(bl.labelled)), backlogScope(bl))
	base.wall = fmt.Sprintf("%s for %d; ≈ %s for %s (list %s + %s x per map)", dur(p.wall), processed, dur(full), num(bl.maps), dur(pl.wall), num(bl.maps))
	base.perMap = dur(per)
	base.rss = mib(p.maxRSS) + " (largest process)"
	base.requests = fmt.Sprintf("%d for %d; ≈ %s for %s", reqs.total, processed, num(reqsList.total+int(perReq*float64(bl.maps)+0.5)), num(bl.maps))
	base.deleted = fmt.Sprintf("%d of %d", deleted, processed)
	base.lost = fmt.Sprintf("%d of the %d in its sample; by its rule %d of %d over the namespace", lost, inSample, len(bl.janitorBlind), len(bl.inUse))
	base.notes = fmt.Sprintf("sees only the %s labelled executor maps (%d%% of the backlog); counts finished Pods as users; its in-use check reads .spec.volumes[].configMap only, so a projected-volume mount does not count; lists every Pod once per map",
		num(len(bl.labelled)), 100*len(bl.labelled)/bl.maps)
	rep.add(base)
	return nil
}

// check reads what is left in a backlog namespace: how many of its in-use
// maps are gone, and how many maps remain.
func (b *bench) check(ctx context.Context, bl *backlog) (lost, left int, err error) {
	have, err := b.a.existing(ctx, bl.ns)
	if err != nil {
		return 0, 0, err
	}
	return missing(bl.inUse, have), len(have), nil
}

func mb(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func backlogScope(bl *backlog) string {
	return fmt.Sprintf("%s maps, %s Pods", num(bl.maps), num(bl.pods))
}

func intersect(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if in[s] {
			out = append(out, s)
		}
	}
	return out
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
