package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// The json and yaml documents group the entries by decision, which a sweep
// decides in no such order. docSink keeps each group's entries as encoded
// JSON lines: in memory while they are few, then in a temporary file each,
// so that a sweep of a hundred thousand maps prints its document without
// holding it. Where no temporary file can be made (a read-only root file
// system), it keeps them in memory and says so once.
type docSink struct {
	out   io.Writer
	log   *slog.Logger
	write func(w *bufio.Writer, r *hook.Result, lists [3]*spool) error
	lists [3]*spool // deleted, skipped, failed: the document's order
	err   error
}

// spillAfter is how many entries the three groups hold in memory before
// they go to temporary files.
var spillAfter = 1000

func newDocSink(w io.Writer, log *slog.Logger, write func(*bufio.Writer, *hook.Result, [3]*spool) error) sink {
	d := &docSink{out: w, log: log, write: write}
	for i := range d.lists {
		d.lists[i] = &spool{}
	}
	return d
}

func listOf(e hook.Entry) int {
	switch e.Decision {
	case hook.Deleted, hook.WouldDelete:
		return 0
	case hook.Failed:
		return 2
	default:
		return 1
	}
}

func (d *docSink) record(e hook.Entry) {
	if d.err != nil {
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		d.err = err
		return
	}
	if d.held() >= spillAfter && !d.spilling() {
		d.spill()
	}
	d.err = d.lists[listOf(e)].add(b)
}

func (d *docSink) held() int {
	n := 0
	for _, l := range d.lists {
		n += len(l.mem)
	}
	return n
}

func (d *docSink) spilling() bool { return d.lists[0].file != nil || d.lists[0].noFile }

// spill moves the groups to temporary files, or notes that it cannot.
func (d *docSink) spill() {
	for _, l := range d.lists {
		if err := l.toFile(); err != nil {
			if d.log != nil {
				d.log.Warn("cannot spool the result to a temporary file; holding it in memory", "err", err)
			}
			for _, l := range d.lists {
				l.noFile = true
			}
			return
		}
	}
}

func (d *docSink) finish(r *hook.Result) error {
	defer func() {
		for _, l := range d.lists {
			l.close()
		}
	}()
	if d.err != nil {
		return d.err
	}
	bw := bufio.NewWriter(d.out)
	if err := d.write(bw, r, d.lists); err != nil {
		return err
	}
	return bw.Flush()
}

// spool is one group of encoded entries, in memory or in a file.
type spool struct {
	mem    [][]byte
	file   *os.File
	fw     *bufio.Writer
	n      int
	noFile bool
}

func (s *spool) add(b []byte) error {
	s.n++
	if s.fw == nil {
		s.mem = append(s.mem, b)
		return nil
	}
	return s.writeLine(b)
}

func (s *spool) writeLine(b []byte) error {
	if _, err := s.fw.Write(b); err != nil {
		return err
	}
	return s.fw.WriteByte('\n')
}

func (s *spool) toFile() error {
	f, err := os.CreateTemp("", "sparkcm-hook-ledger-")
	if err != nil {
		return err
	}
	// Unlinked at once: the file lives only as long as this process.
	_ = os.Remove(f.Name())
	s.file, s.fw = f, bufio.NewWriter(f)
	for _, b := range s.mem {
		if err := s.writeLine(b); err != nil {
			return err
		}
	}
	s.mem = nil
	return nil
}

// each calls fn with every encoded entry, in the order recorded.
func (s *spool) each(fn func([]byte) error) error {
	if s.file == nil {
		for _, b := range s.mem {
			if err := fn(b); err != nil {
				return err
			}
		}
		return nil
	}
	if err := s.fw.Flush(); err != nil {
		return err
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sc := bufio.NewScanner(s.file)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

func (s *spool) close() {
	if s.file != nil {
		_ = s.file.Close()
	}
}

var listNames = [3]string{"deleted", "skipped", "failed"}

// writeJSONDoc writes the result as encoding/json would, one entry a line.
func writeJSONDoc(bw *bufio.Writer, r *hook.Result, lists [3]*spool) error {
	field := func(name string, v any, last bool) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(bw, "  %q: %s%s\n", name, b, comma(last))
		return err
	}
	list := func(name string, s *spool) error {
		if s.n == 0 {
			return field(name, []hook.Entry{}, false)
		}
		fmt.Fprintf(bw, "  %q: [\n", name)
		i := 0
		err := s.each(func(b []byte) error {
			i++
			_, err := fmt.Fprintf(bw, "    %s%s\n", b, comma(i == s.n))
			return err
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(bw, "  ],\n")
		return err
	}
	if _, err := bw.WriteString("{\n"); err != nil {
		return err
	}
	steps := []func() error{
		func() error { return field("namespace", r.Namespace, false) },
		func() error { return field("appIds", r.AppIDs, false) },
		func() error { return field("dryRun", r.DryRun, false) },
		func() error { return field("seconds", r.Seconds, false) },
		func() error { return field("retries", r.Retries, false) },
		func() error { return field("throttled", r.Throttled, false) },
	}
	for i := range lists {
		steps = append(steps, func() error { return list(listNames[i], lists[i]) })
	}
	steps = append(steps, func() error { return field("counts", r.Counts, len(r.Unreadable) == 0) })
	if len(r.Unreadable) > 0 {
		steps = append(steps, func() error { return field("unreadableNamespaces", r.Unreadable, true) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	_, err := bw.WriteString("}\n")
	return err
}

func comma(last bool) string {
	if last {
		return ""
	}
	return ","
}

// writeYAMLDoc writes the result as sigs.k8s.io/yaml would (keys in
// alphabetical order), one entry at a time.
func writeYAMLDoc(bw *bufio.Writer, r *hook.Result, lists [3]*spool) error {
	scalar := func(name string, v any) error {
		b, err := yaml.Marshal(map[string]any{name: v})
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
		return err
	}
	list := func(name string, s *spool) error {
		if s.n == 0 {
			return scalar(name, []hook.Entry{})
		}
		fmt.Fprintf(bw, "%s:\n", name)
		return s.each(func(b []byte) error {
			y, err := yaml.JSONToYAML(b)
			if err != nil {
				return err
			}
			for i, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
				prefix := "  "
				if i == 0 {
					prefix = "- "
				}
				if _, err := fmt.Fprintf(bw, "%s%s\n", prefix, line); err != nil {
					return err
				}
			}
			return nil
		})
	}
	steps := []func() error{
		func() error { return scalar("appIds", r.AppIDs) },
		func() error { return scalar("counts", r.Counts) },
		func() error { return list("deleted", lists[0]) },
		func() error { return scalar("dryRun", r.DryRun) },
		func() error { return list("failed", lists[2]) },
		func() error { return scalar("namespace", r.Namespace) },
		func() error { return scalar("retries", r.Retries) },
		func() error { return scalar("seconds", r.Seconds) },
		func() error { return list("skipped", lists[1]) },
		func() error { return scalar("throttled", r.Throttled) },
	}
	if len(r.Unreadable) > 0 {
		steps = append(steps, func() error { return scalar("unreadableNamespaces", r.Unreadable) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}
