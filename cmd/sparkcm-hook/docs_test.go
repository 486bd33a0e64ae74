package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
)

// The documents whose code blocks people copy: the README first, then the
// guides it links to. Each is read from the repository root.
func documentedFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"../../README.md", "../../CONTRIBUTING.md", "../../airflow/README.md", "../../deploy/helm/sparkcm-hook/README.md"}
	return append(files, docs...)
}

// fence is one fenced code block: its language and its lines, each with
// the line number it has in the file.
type fence struct {
	file  string
	lang  string
	lines []string
	first int // line number of lines[0]
}

func (f fence) text() string { return strings.Join(f.lines, "\n") + "\n" }

// fences reads the fenced blocks of a Markdown file, also indented ones
// (inside a list item), with the fence's indentation removed.
func fences(t *testing.T, path string) []fence {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		out    []fence
		cur    *fence
		indent string
	)
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if strings.HasPrefix(trimmed, "```") {
				indent = line[:len(line)-len(trimmed)]
				// The info string's first word is the language; words after
				// it mark a block for a test (the README's quickstart).
				lang, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), " ")
				cur = &fence{file: strings.TrimPrefix(path, "../../"), lang: lang, first: i + 2}
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") {
			out = append(out, *cur)
			cur = nil
			continue
		}
		cur.lines = append(cur.lines, strings.TrimPrefix(line, indent))
	}
	if cur != nil {
		t.Fatalf("%s: the code block from line %d is never closed", path, cur.first-1)
	}
	return out
}

// invocation finds "sparkcm-hook ..." or "kubectl sparkcm ..." at the start
// of a shell line (after a prompt, or a path such as bin/), and returns
// the arguments after the program's name.
var invocation = regexp.MustCompile(`^(?:\$\s+)?(?:\S*/)?(?:sparkcm-hook|kubectl\s+sparkcm)\s+(.*)$`)

// shellTokens splits a command line the way the docs write them: words,
// quotes stripped, ending at a comment or a redirection.
func shellTokens(s string) []string {
	var out []string
	for _, tok := range strings.Fields(s) {
		if strings.HasPrefix(tok, "#") || tok == ">" || tok == ">>" || strings.HasPrefix(tok, "2>") ||
			strings.HasPrefix(tok, ">") || tok == "&&" || tok == ";" || tok == "||" {
			break
		}
		out = append(out, strings.Trim(tok, `"'`))
	}
	return out
}

// scope is where a word of the command line is read: the program or one of
// its commands. Usage lines name alternatives (cleanup|sweep|watch), so a
// word may be read in several scopes at once; a flag must exist in each.
type scope struct {
	path  string
	flags []cli.Flag
	subs  []*cli.Command
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name || slices.Contains(c.Aliases, name) {
			return c
		}
	}
	return nil
}

// checkCommandLine walks the arguments through the real command tree: each
// command (or each of the alternatives a usage line gives) must exist, and
// each flag must be one its command takes. Words that are no flag after the
// last command are its arguments (who-can's VERB RESOURCE, check's paths).
func checkCommandLine(app *cli.App, args []string) error {
	top := scope{path: app.Name, flags: append(slices.Clone(app.Flags), cli.HelpFlag, cli.VersionFlag), subs: app.Commands}
	scopes := []scope{top}
	for i := 0; i < len(args); i++ {
		tok := strings.TrimRight(strings.TrimLeft(args[i], "(["), ")]")
		switch {
		case tok == "" || tok == "..." || tok == "-":
			continue
		case tok == "|":
			// An alternative in a usage line goes on; a pipe into another
			// program ends the line.
			if i+1 < len(args) {
				next := strings.TrimLeft(args[i+1], "([")
				if strings.HasPrefix(next, "-") || findCommand(scopes[0].subs, strings.Split(next, "|")[0]) != nil {
					continue
				}
			}
			return nil
		case strings.HasPrefix(tok, "-"):
			name, _, hasValue := strings.Cut(strings.TrimLeft(tok, "-"), "=")
			takesValue := false
			for _, s := range scopes {
				f := findFlag(s.flags, name)
				if f == nil {
					return fmt.Errorf("%s has no flag %s", s.path, tok)
				}
				if v, ok := f.(cli.DocGenerationFlag); ok && v.TakesValue() {
					takesValue = true
				}
			}
			if takesValue && !hasValue {
				i++ // its value
			}
		case len(scopes[0].subs) > 0:
			var next []scope
			for _, name := range strings.Split(tok, "|") {
				for _, s := range scopes {
					c := findCommand(s.subs, name)
					if c == nil {
						return fmt.Errorf("%s has no command %q", s.path, name)
					}
					flags := append(slices.Clone(c.Flags), cli.HelpFlag)
					next = append(next, scope{path: s.path + " " + c.Name, flags: flags, subs: c.Subcommands})
				}
			}
			scopes = next
		default:
			// an argument of the command
		}
	}
	return nil
}

// shellLines joins continued lines (a trailing backslash) of a block.
func shellLines(f fence) (lines []string, numbers []int) {
	var cur strings.Builder
	start := 0
	for i, l := range f.lines {
		if cur.Len() == 0 {
			start = f.first + i
		}
		trimmed := strings.TrimSpace(l)
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines, numbers = append(lines, cur.String()), append(numbers, start)
		cur.Reset()
	}
	return lines, numbers
}

func isShell(lang string) bool {
	return lang == "" || lang == "sh" || lang == "bash" || lang == "shell" || lang == "console"
}

// TestDocumentedCommandLinesNameRealCommandsAndFlags reads every shell block
// of the README and the guides and walks each sparkcm-hook (or kubectl
// sparkcm) line through the real command tree: a renamed or mistyped flag
// or command in the docs fails here, before a user copies it.
func TestDocumentedCommandLinesNameRealCommandsAndFlags(t *testing.T) {
	app := newCLI("sparkcm-hook", strings.NewReader(""), io.Discard, io.Discard)
	checked := map[string]int{}
	for _, path := range documentedFiles(t) {
		for _, f := range fences(t, path) {
			if !isShell(f.lang) {
				continue
			}
			lines, numbers := shellLines(f)
			for i, line := range lines {
				m := invocation.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				checked[f.file]++
				if err := checkCommandLine(app, shellTokens(m[1])); err != nil {
					t.Errorf("%s:%d: %v\n\t%s", f.file, numbers[i], err, line)
				}
			}
		}
	}
	t.Logf("command lines checked, by file: %v", checked)
	// The README shows how to run every command people run; a reader that
	// found none there checked nothing.
	if checked["README.md"] < 5 {
		t.Fatalf("only %d command lines found in README.md (by file: %v): the extraction no longer sees them", checked["README.md"], checked)
	}
}

// TestDocumentedYAMLAndJSONBlocksParse: a manifest or a ledger shown in the
// docs is one a user may apply or parse.
func TestDocumentedYAMLAndJSONBlocksParse(t *testing.T) {
	seen := 0
	for _, path := range documentedFiles(t) {
		for _, f := range fences(t, path) {
			switch f.lang {
			case "yaml", "yml":
				seen++
				r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(f.text())))
				for {
					doc, err := r.Read()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Errorf("%s:%d: %v", f.file, f.first, err)
						break
					}
					var v any
					if err := yaml.Unmarshal(doc, &v); err != nil {
						t.Errorf("%s:%d: the yaml block does not parse: %v", f.file, f.first, err)
					}
				}
			case "json":
				seen++
				if !json.Valid([]byte(f.text())) {
					t.Errorf("%s:%d: the json block does not parse", f.file, f.first)
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no yaml or json block found: the extraction no longer sees them")
	}
}

// exitMeanings reads an EXIT CODES help text: code -> its meaning.
func exitMeanings(help string) map[int]string {
	out := map[int]string{}
	for _, line := range strings.Split(help, "\n") {
		code, meaning, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if n, err := strconv.Atoi(code); ok && err == nil {
			out[n] = strings.TrimSpace(meaning)
		}
	}
	return out
}

// keyPhrase is a meaning up to its first comma, colon or parenthesis:
// "failed after retries", "the application is still running".
func keyPhrase(meaning string) string {
	if i := strings.IndexAny(meaning, ",:(;"); i >= 0 {
		meaning = meaning[:i]
	}
	return strings.TrimSpace(meaning)
}

var (
	exitRow     = regexp.MustCompile(`^\| ([0-9]+) \| (.*) \|$`)
	exitMention = regexp.MustCompile(`\bexit(?:s| code|s with code| with code)? ([0-9]+)\b`)
)

// TestDocumentedExitCodesAreTheBinarys holds the README's exit code table to
// exit.go: the same codes, each meaning what --help says it means; and
// every "exit N" the docs mention is a code the binary has.
func TestDocumentedExitCodesAreTheBinarys(t *testing.T) {
	defined := map[int]bool{}
	for _, c := range []int{exitcode.OK, exitcode.Failed, exitcode.Usage, exitcode.Forbidden, exitcode.Running, exitcode.Disagrees, exitcode.Findings} {
		defined[c] = true
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### Exit codes\n")
	if !ok {
		t.Fatal(`README.md has no "### Exit codes" section`)
	}
	table := map[int]string{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		if m := exitRow.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			table[n] = m[2]
		}
	}
	for n := range defined {
		if _, ok := table[n]; !ok {
			t.Errorf("README's exit code table lacks %d, which exit.go defines", n)
		}
	}
	for n, meaning := range table {
		if !defined[n] {
			t.Errorf("README's exit code table has %d, which exit.go does not define", n)
			continue
		}
		if want, ok := exitMeanings(exitCodesHelp)[n]; ok && !strings.HasPrefix(meaning, keyPhrase(want)) {
			t.Errorf("README says exit %d is %q; --help says %q", n, meaning, want)
		}
	}
	// 5 means two things, each the command's own: check's findings and
	// who-can's disagreement.
	if m := table[exitcode.Findings]; !strings.Contains(m, "`check`") || !strings.Contains(m, "findings") ||
		!strings.Contains(m, "who-can") || !strings.Contains(m, "disagrees") {
		t.Errorf("README's exit 5 %q does not name check's findings and who-can's disagreement (%q, %q)",
			m, exitMeanings(checkExitCodes)[exitcode.Findings], exitMeanings(rbacExitCodes)[exitcode.Disagrees])
	}

	for _, path := range documentedFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			for _, m := range exitMention.FindAllSubmatch(line, -1) {
				if n, _ := strconv.Atoi(string(m[1])); !defined[n] {
					t.Errorf("%s:%d: %q, but the binary has no exit code %d", strings.TrimPrefix(path, "../../"), i+1, m[0], n)
				}
			}
		}
	}
}

// The ledger's `keep` field is a contract for the tools that count kept
// maps: the reference names every kind the rule gives.
func TestTheLedgerReferenceNamesEveryKindOfReasonToKeep(t *testing.T) {
	b, err := os.ReadFile("../../docs/commands.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range rule.Keeps() {
		if !bytes.Contains(b, []byte("`"+string(k)+"`")) {
			t.Errorf("docs/commands.md does not name the ledger's keep kind %q", k)
		}
	}
}
