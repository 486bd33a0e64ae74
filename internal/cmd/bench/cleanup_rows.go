package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// cleanupRows measures one cleanup of a finished application in a busy namespace,
// then the same cleanup in an empty one (the request count must not grow
// with the namespace), and kubectl's label-selector delete beside it.
func (b *bench) cleanupRows(ctx context.Context, rep *report, busy, empty *cleanupScene) error {
	if busy == nil {
		return nil
	}
	// cleanup runs sparkcm-hook cleanup on s's application and checks that
	// it deleted all five maps and nothing else.
	cleanup := func(s *cleanupScene) (proc, requests, *result, int, error) {
		before, err := b.a.existing(ctx, s.ns)
		if err != nil {
			return proc{}, requests{}, nil, 0, err
		}
		p, reqs, err := b.measured(ctx, b.env(), b.o.bin, "cleanup", "--kubeconfig", b.kubeconfig, "-n", s.ns,
			"--spark-app", s.ours.Name, "-o", "json")
		if err != nil {
			return p, reqs, nil, 0, err
		}
		res, err := parseResult(p)
		if err != nil {
			return p, reqs, nil, 0, err
		}
		if p.exitCode != 0 {
			return p, reqs, nil, 0, fmt.Errorf("sparkcm-hook cleanup in %s exited %d:\n%s", s.ns, p.exitCode, tail(p.stderr, 20))
		}
		have, err := b.a.existing(ctx, s.ns)
		if err != nil {
			return p, reqs, nil, 0, err
		}
		if left := len(s.ours.Maps) - missing(s.ours.MapNames(), have); left != 0 {
			return p, reqs, nil, 0, fmt.Errorf("cleanup in %s left %d of the application's %d maps", s.ns, left, len(s.ours.Maps))
		}
		if others := len(before) - len(have) - len(s.ours.Maps); others != 0 {
			return p, reqs, nil, 0, fmt.Errorf("cleanup in %s deleted %d maps that were not the application's", s.ns, others)
		}
		return p, reqs, res, missing(s.inUse, have), nil
	}

	b.logf("issue 3: sparkcm-hook cleanup --spark-app %s in %s (%d other maps, %d Pods)", busy.ours.Name, busy.ns, busy.otherMaps, busy.pods)
	p, reqs, res, lost, err := cleanup(busy)
	if err != nil {
		return err
	}
	b.logf("  %s, %d deleted; requests %s", p.wall.Round(time.Millisecond), len(res.Deleted), reqs)
	pe, reqsEmpty, _, _, err := cleanup(empty)
	if err != nil {
		return err
	}
	b.logf("  the same in the otherwise empty %s: %s; requests %s", empty.ns, pe.wall.Round(time.Millisecond), reqsEmpty)
	rep.cleanupRequests, rep.cleanupRequestsEmpty = reqs.total, reqsEmpty.total
	rep.add(row{
		issue:    "3",
		run:      "`sparkcm-hook cleanup --spark-app X` (the binary)",
		scope:    fmt.Sprintf("1 app (5 maps) among %s maps, %s Pods", num(busy.otherMaps+10), num(busy.pods+2)),
		wall:     dur(p.wall),
		perMap:   "-",
		rss:      mib(p.maxRSS),
		requests: fmt.Sprint(reqs.total),
		deleted:  fmt.Sprintf("%d of 5", len(res.Deleted)),
		lost:     fmt.Sprint(lost),
		notes:    fmt.Sprintf("%d requests for the same app in an empty namespace; %s", reqsEmpty.total, verbs(reqs)),
	})
	if !b.o.rows["kubectl"] {
		return nil
	}
	return b.kubectlDelete(ctx, rep, busy)
}

// kubectlDelete is what most scripts do: delete by the application's label.
func (b *bench) kubectlDelete(ctx context.Context, rep *report, busy *cleanupScene) error {
	if b.kubectl == "" {
		rep.add(row{issue: "3", run: "`kubectl delete cm -l spark-app-selector=ID`", scope: "same namespace", wall: "n/a (kubectl not installed)",
			perMap: "-", rss: "-", requests: "-", deleted: "-", lost: "-", notes: "finds only the executor map"})
		return nil
	}
	app := busy.kubectls
	b.logf("issue 3: kubectl delete cm -l spark-app-selector=%s in %s", app.AppID, busy.ns)
	before, err := b.a.existing(ctx, busy.ns)
	if err != nil {
		return err
	}
	p, reqs, err := b.measured(ctx, b.env(), b.kubectl, "delete", "cm", "-n", busy.ns, "-l", "spark-app-selector="+app.AppID)
	if err != nil {
		return err
	}
	if p.exitCode != 0 {
		return fmt.Errorf("kubectl delete exited %d:\n%s", p.exitCode, tail(p.stderr, 20))
	}
	have, err := b.a.existing(ctx, busy.ns)
	if err != nil {
		return err
	}
	gone := missing(app.MapNames(), have)
	if others := len(before) - len(have) - gone; others != 0 {
		return fmt.Errorf("kubectl delete in %s deleted %d maps that were not the application's", busy.ns, others)
	}
	b.logf("  %s, %d of %d maps deleted; requests %s", p.wall.Round(time.Millisecond), gone, len(app.Maps), reqs)
	rep.add(row{
		issue:    "3",
		run:      "`kubectl delete cm -l spark-app-selector=ID`",
		scope:    "the same namespace, another app like X",
		wall:     dur(p.wall),
		perMap:   "-",
		rss:      mib(p.maxRSS),
		requests: fmt.Sprint(reqs.total),
		deleted:  fmt.Sprintf("%d of 5", gone),
		lost:     fmt.Sprint(missing(busy.inUse, have)),
		notes:    fmt.Sprintf("deletes only the executor map: the driver, pod-template, Hadoop and krb5 maps carry no label; fresh kubectl cache; %s", verbs(reqs)),
	})
	return nil
}

// verbs summarises a request breakdown compactly: "GET 9, LIST 2, ...".
func verbs(r requests) string {
	by := map[string]int{}
	var order []string
	for k, n := range r.by {
		v := strings.Fields(k)[0]
		if _, ok := by[v]; !ok {
			order = append(order, v)
		}
		by[v] += n
	}
	sortStrings(order)
	parts := make([]string, 0, len(order))
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%s %d", v, by[v]))
	}
	return strings.Join(parts, ", ")
}
