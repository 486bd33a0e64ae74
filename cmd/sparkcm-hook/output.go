package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// formats are the printers of -o, in the order --help lists them: one table
// for every command. The first is the default. Each is a sink: entries are
// recorded as they are decided (a sweep streams them, so that its memory
// does not grow with the number of maps), then finish prints what is left.
var formats = []struct {
	name string
	sink func(w io.Writer, log *slog.Logger) sink
}{
	{"text", newTextSink},
	{"json", func(w io.Writer, _ *slog.Logger) sink { return newDocSink(w, jsonDoc{}) }},
	{"yaml", func(w io.Writer, _ *slog.Logger) sink { return newDocSink(w, yamlDoc{}) }},
	{"csv", newCSVSink},
}

// sink is one -o printer.
type sink interface {
	// record takes one entry (never concurrently).
	record(hook.Entry)
	// finish prints what remains with the run's summary, and returns the
	// first write error.
	finish(*hook.Result) error
}

// sinkFor returns the printer of a format, or nil for an unknown one.
func sinkFor(name string, w io.Writer, log *slog.Logger) sink {
	for _, f := range formats {
		if f.name == name {
			return f.sink(w, log)
		}
	}
	return nil
}

// feed hands a sink the entries a result holds, in the order deleted,
// failed, skipped.
func feed(s sink, r *hook.Result) {
	for _, list := range [][]hook.Entry{r.Deleted, r.Failed, r.Skipped} {
		for _, e := range list {
			s.record(e)
		}
	}
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
	return hook.Usagef("-o %q: want one of %s", format, strings.Join(allowed, "|"))
}

// textSink is the human table: one row per map as it is decided, then a
// summary. Rows are aligned in blocks, so that a sweep of a hundred
// thousand maps never holds its table in memory.
type textSink struct {
	w    io.Writer
	tw   *tabwriter.Writer
	rows int
	err  error
}

const textBlock = 500

func newTextSink(w io.Writer, _ *slog.Logger) sink {
	return &textSink{w: w, tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
}

func (t *textSink) record(e hook.Entry) {
	if t.err != nil {
		return
	}
	if t.rows == 0 {
		_, t.err = fmt.Fprintln(t.tw, "DECISION\tNAMESPACE\tCONFIGMAP\tKIND\tAPP ID\tREASON")
	}
	t.rows++
	if _, err := fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Decision, e.Namespace, e.Name, e.Kind, dash(e.AppID), dash(e.Reason)); err != nil && t.err == nil {
		t.err = err
	}
	if t.rows%textBlock == 0 && t.err == nil {
		t.err = t.tw.Flush()
	}
}

func (t *textSink) finish(r *hook.Result) error {
	if t.err == nil {
		t.err = t.tw.Flush()
	}
	if t.err != nil {
		return t.err
	}
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	for _, u := range r.Unreadable {
		if _, err := fmt.Fprintf(t.w, "namespace %s not swept: %s\n", u.Namespace, u.Reason); err != nil {
			return err
		}
	}
	retries := ""
	if r.Retries > 0 {
		retries = fmt.Sprintf("; %d request(s) retried (%d throttled)", r.Retries, r.Throttled)
	}
	_, err := fmt.Fprintf(t.w, "%s %d, skipped %d, failed %d ConfigMap(s)%s in %.1fs%s\n", verb, r.Counts.Deleted, r.Counts.Skipped, r.Counts.Failed, ofApps(r.AppIDs), r.Seconds, retries)
	return err
}

// textAppIDs is how many application ids the text summary names: a sweep
// of a whole cluster can delete for thousands; the json and yaml ledgers
// name them all.
const textAppIDs = 10

// ofApps names the applications whose maps were deleted, on one line.
func ofApps(ids []string) string {
	switch {
	case len(ids) == 0:
		return ""
	case len(ids) > textAppIDs:
		return fmt.Sprintf(" of application(s) %s and %d more", strings.Join(ids[:textAppIDs], ", "), len(ids)-textAppIDs)
	}
	return " of application(s) " + strings.Join(ids, ", ")
}

// csvSink is the ledger: one record per map, written as it is decided.
type csvSink struct {
	cw  *csv.Writer
	err error
}

func newCSVSink(w io.Writer, _ *slog.Logger) sink {
	s := &csvSink{cw: csv.NewWriter(w)}
	s.err = s.cw.Write([]string{"namespace", "name", "uid", "kind", "app_id", "age", "decision", "reason"})
	return s
}

func (s *csvSink) record(e hook.Entry) {
	if s.err == nil {
		s.err = s.cw.Write([]string{e.Namespace, e.Name, e.UID, string(e.Kind), e.AppID, e.AgeText, string(e.Decision), e.Reason})
	}
}

func (s *csvSink) finish(*hook.Result) error {
	if s.err != nil {
		return s.err
	}
	s.cw.Flush()
	return s.cw.Error()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
