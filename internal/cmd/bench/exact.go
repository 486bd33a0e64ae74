package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A sweep row is only a measurement of the tool if the tool did the job:
// the seed knows exactly which maps must go (every leftover map but the
// ones a Running Pod mounts), so after each sweep the bench counts, map by
// map, what stayed that should have gone, and fails the run when any did.
// A rate would hide the failure this check exists for: a loaded run once
// kept one map per application (2,165 of 10,000) and passed.

// exactCheck is the verdict on one sweep row.
type exactCheck struct {
	row     string
	gone    int      // maps the seed meant to go
	stayed  int      // of those, the ones still there
	kept    int      // in-use maps still there (all of them, when none was lost)
	inUse   int      // in-use maps seeded
	reasons []string // why the ledger kept those that stayed, most frequent first
	ledger  string   // where the ledger was kept, or ""
}

func (c exactCheck) ok() bool { return c.stayed == 0 && c.kept == c.inUse }

// line is the check's target line.
func (c exactCheck) line() string {
	s := fmt.Sprintf("%s: every map the seed meant to delete is gone and exactly the in-use ones stay: %s of %s stayed that should have gone, %d of %d in-use maps stay",
		c.row, num(c.stayed), num(c.gone), c.kept, c.inUse)
	if len(c.reasons) > 0 {
		s += "; the ledger's reasons: " + strings.Join(c.reasons, "; ")
	}
	if c.ledger != "" {
		s += "; ledger kept in " + c.ledger
	}
	return s
}

// ledgerEntry is what the check reads of one ledger record.
type ledgerEntry struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Decision  string `json:"decision"`
	Reason    string `json:"reason"`
}

// ledgerKept is the part of -o json that says why maps were not deleted.
type ledgerKept struct {
	Deleted []ledgerEntry `json:"deleted"`
	Skipped []ledgerEntry `json:"skipped"`
	Failed  []ledgerEntry `json:"failed"`
}

// keepLedger writes a sweep's -o json to --keep-ledgers DIR/<name>.json and
// returns the path, or "" without --keep-ledgers.
func (b *bench) keepLedger(name string, p proc) (string, error) {
	if b.o.keepLedgers == "" {
		return "", nil
	}
	path := filepath.Join(b.o.keepLedgers, name+".json")
	if err := os.WriteFile(path, p.stdout, 0o644); err != nil {
		return "", fmt.Errorf("--keep-ledgers: %w", err)
	}
	b.logf("  ledger kept in %s", path)
	return path, nil
}

// exact checks that after a sweep each backlog holds exactly its in-use
// maps, and takes the reasons for whatever else stayed from the sweep's
// ledger (its -o json).
func (b *bench) exact(ctx context.Context, row string, p proc, ledgerPath string, bls ...*backlog) (exactCheck, error) {
	left := make(map[string]map[string]bool, len(bls))
	for _, bl := range bls {
		have, err := b.a.existing(ctx, bl.ns)
		if err != nil {
			return exactCheck{}, err
		}
		left[bl.ns] = have
	}
	c, err := tally(row, p.stdout, left, bls)
	c.ledger = ledgerPath
	return c, err
}

// tally compares the maps left in each backlog's namespace (left, by
// namespace) with what the seed meant to stay, and names the ledger's
// reasons for every map that stayed and should not have.
func tally(row string, ledger []byte, left map[string]map[string]bool, bls []*backlog) (exactCheck, error) {
	c := exactCheck{row: row}
	var led ledgerKept
	if err := json.Unmarshal(ledger, &led); err != nil {
		return c, fmt.Errorf("%s: the ledger is not JSON (%w)", row, err)
	}
	why := map[string]string{}
	for _, list := range [][]ledgerEntry{led.Deleted, led.Skipped, led.Failed} {
		for _, e := range list {
			r := e.Reason
			if e.Decision != "skipped" && e.Decision != "failed" {
				// Deleted (or would-delete in a dry run) by the ledger,
				// still there by the API server.
				r = "still there though the ledger says " + e.Decision
			}
			why[e.Namespace+"/"+e.Name] = r
		}
	}
	counts := map[string]int{}
	for _, bl := range bls {
		inUse := make(map[string]bool, len(bl.inUse))
		for _, n := range bl.inUse {
			inUse[n] = true
		}
		c.gone += bl.maps - len(bl.inUse)
		c.inUse += len(bl.inUse)
		for name := range left[bl.ns] {
			if inUse[name] {
				c.kept++
				continue
			}
			c.stayed++
			r, ok := why[bl.ns+"/"+name]
			if !ok {
				r = "not in the ledger"
			}
			counts[normalReason(r)]++
		}
	}
	c.reasons = topReasons(counts, 3)
	return c, nil
}

// normalReason folds the names in an in-use reason, so that the Pods of
// one kind of reason count together.
func normalReason(r string) string {
	if strings.HasPrefix(r, "in use by Pod") {
		return "in use by a Pod"
	}
	return r
}

// topReasons is "N reason" for the n most frequent reasons, and how many
// maps the others cover.
func topReasons(counts map[string]int, n int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var out []string
	rest := 0
	for i, k := range keys {
		if i < n {
			out = append(out, fmt.Sprintf("%s: %q", num(counts[k]), k))
			continue
		}
		rest += counts[k]
	}
	if rest > 0 {
		out = append(out, fmt.Sprintf("%s more under %d other reasons", num(rest), len(keys)-n))
	}
	return out
}

// exactFailure is the run's error when any sweep row left a map the seed
// meant to go (after the table is printed, so the numbers are still there).
func exactFailure(checks []exactCheck) error {
	var bad []string
	for _, c := range checks {
		if !c.ok() {
			bad = append(bad, fmt.Sprintf("%s: %s maps stayed that should have gone, %d of %d in-use maps stay", c.row, num(c.stayed), c.kept, c.inUse))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("a sweep did not delete exactly what it should (see the FAIL lines): %s", strings.Join(bad, "; "))
}
