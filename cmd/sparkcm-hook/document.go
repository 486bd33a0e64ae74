package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// docSink prints a hook.Document: each entry as it is recorded, then the
// summary. Nothing is held and nothing is written but stdout, so a sweep
// of a hundred thousand maps prints its ledger in constant memory, also in
// a container whose root file system is read-only.
type docSink struct {
	bw    *bufio.Writer
	enc   docEncoder
	n     int
	err   error
	begun bool
}

// docEncoder writes one format of the document in three parts.
type docEncoder interface {
	begin(w *bufio.Writer) error
	entry(w *bufio.Writer, b []byte, first bool) error // b is the entry as JSON
	end(w *bufio.Writer, entries int, summary hook.Summary) error
}

func newDocSink(w io.Writer, enc docEncoder) sink {
	return &docSink{bw: bufio.NewWriter(w), enc: enc}
}

func (d *docSink) record(e hook.Entry) {
	if d.err != nil {
		return
	}
	if !d.begun {
		d.begun, d.err = true, d.enc.begin(d.bw)
		if d.err != nil {
			return
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		d.err = err
		return
	}
	d.err = d.enc.entry(d.bw, b, d.n == 0)
	d.n++
}

func (d *docSink) finish(r *hook.Result) error {
	if d.err == nil && !d.begun {
		d.begun, d.err = true, d.enc.begin(d.bw)
	}
	if d.err != nil {
		return d.err
	}
	if err := d.enc.end(d.bw, d.n, r.Summary()); err != nil {
		return err
	}
	return d.bw.Flush()
}

// jsonDoc writes the document as encoding/json would indent it, one entry
// a line.
type jsonDoc struct{}

func (jsonDoc) begin(w *bufio.Writer) error {
	_, err := w.WriteString("{\n  \"entries\": [")
	return err
}

func (jsonDoc) entry(w *bufio.Writer, b []byte, first bool) error {
	sep := ",\n    "
	if first {
		sep = "\n    "
	}
	if _, err := w.WriteString(sep); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func (jsonDoc) end(w *bufio.Writer, entries int, s hook.Summary) error {
	closing := "\n  ],\n"
	if entries == 0 {
		closing = "],\n"
	}
	if _, err := w.WriteString(closing); err != nil {
		return err
	}
	// The summary's fields, in the Document's order, after the entries.
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.WriteString(strings.TrimPrefix(string(b), "{\n") + "\n")
	return err
}

// yamlDoc writes the document as sigs.k8s.io/yaml would write its parts:
// the entries first, then the summary's keys.
type yamlDoc struct{}

func (yamlDoc) begin(*bufio.Writer) error { return nil }

func (yamlDoc) entry(w *bufio.Writer, b []byte, first bool) error {
	if first {
		if _, err := w.WriteString("entries:\n"); err != nil {
			return err
		}
	}
	y, err := yaml.JSONToYAML(b)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
		prefix := "  "
		if i == 0 {
			prefix = "- "
		}
		if _, err := fmt.Fprintf(w, "%s%s\n", prefix, line); err != nil {
			return err
		}
	}
	return nil
}

func (yamlDoc) end(w *bufio.Writer, entries int, s hook.Summary) error {
	if entries == 0 {
		if _, err := w.WriteString("entries: []\n"); err != nil {
			return err
		}
	}
	y, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}
