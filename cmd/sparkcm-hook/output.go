package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// formats are the printers of -o, in the order --help lists them: one table
// for every command. The first is the default.
var formats = []struct {
	name  string
	write func(io.Writer, *hook.Result) error
}{
	{"text", writeText},
	{"json", writeJSON},
	{"yaml", writeYAML},
	{"csv", writeLedgerCSV},
}

// printerFor returns the printer of a format, or nil for an unknown one.
func printerFor(name string) func(io.Writer, *hook.Result) error {
	for _, f := range formats {
		if f.name == name {
			return f.write
		}
	}
	return nil
}

// formatList lists the formats' names.
func formatList() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.name
	}
	return names
}

// formatNames lists the formats, joined by sep.
func formatNames(sep string) string { return strings.Join(formatList(), sep) }

// checkOutput validates -o before any configuration is read.
func checkOutput(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return hook.Usagef("-o must be one of %s, not %q", strings.Join(allowed, "|"), format)
}

func writeYAML(w io.Writer, r *hook.Result) error {
	b, err := yaml.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// writeJSON writes the result one record at a time, so a ledger of tens of
// thousands of maps is never held in memory a second time as text.
func writeJSON(w io.Writer, r *hook.Result) error {
	bw := bufio.NewWriter(w)
	field := func(name string, v any, last bool) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		sep := ","
		if last {
			sep = ""
		}
		_, err = fmt.Fprintf(bw, "  %q: %s%s\n", name, b, sep)
		return err
	}
	list := func(name string, entries []hook.Entry, last bool) error {
		if len(entries) == 0 {
			return field(name, []hook.Entry{}, last)
		}
		fmt.Fprintf(bw, "  %q: [\n", name)
		for i, e := range entries {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			sep := ","
			if i == len(entries)-1 {
				sep = ""
			}
			fmt.Fprintf(bw, "    %s%s\n", b, sep)
		}
		sep := ","
		if last {
			sep = ""
		}
		_, err := fmt.Fprintf(bw, "  ]%s\n", sep)
		return err
	}
	if _, err := bw.WriteString("{\n"); err != nil {
		return err
	}
	for _, step := range []func() error{
		func() error { return field("namespace", r.Namespace, false) },
		func() error { return field("appIds", r.AppIDs, false) },
		func() error { return field("dryRun", r.DryRun, false) },
		func() error { return field("seconds", r.Seconds, false) },
		func() error { return list("deleted", r.Deleted, false) },
		func() error { return list("skipped", r.Skipped, false) },
		func() error { return list("failed", r.Failed, false) },
		func() error { return field("counts", r.Counts, len(r.Unreadable) == 0) },
		func() error {
			if len(r.Unreadable) == 0 {
				return nil
			}
			return field("unreadableNamespaces", r.Unreadable, true)
		},
	} {
		if err := step(); err != nil {
			return err
		}
	}
	if _, err := bw.WriteString("}\n"); err != nil {
		return err
	}
	return bw.Flush()
}

// writeText is the human table: one row per map considered, then a summary.
func writeText(w io.Writer, r *hook.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := 0
	header := func() {
		if rows == 0 {
			fmt.Fprintln(tw, "DECISION\tNAMESPACE\tCONFIGMAP\tKIND\tAPP ID\tREASON")
		}
		rows++
	}
	for _, list := range [][]hook.Entry{r.Deleted, r.Failed, r.Skipped} {
		for _, e := range list {
			header()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Decision, e.Namespace, e.Name, e.Kind, dash(e.AppID), dash(e.Reason))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	_, err := fmt.Fprintf(w, "%s %d, skipped %d, failed %d ConfigMap(s) in %.1fs\n", verb, len(r.Deleted), len(r.Skipped), len(r.Failed), r.Seconds)
	return err
}

// writeLedgerCSV is the ledger: one record per map considered.
func writeLedgerCSV(w io.Writer, r *hook.Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"namespace", "name", "uid", "kind", "app_id", "age", "decision", "reason"}); err != nil {
		return err
	}
	for _, list := range [][]hook.Entry{r.Deleted, r.Failed, r.Skipped} {
		for _, e := range list {
			if err := cw.Write([]string{e.Namespace, e.Name, e.UID, string(e.Kind), e.AppID, e.AgeText, string(e.Decision), e.Reason}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
