package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

func sampleResults() map[string]hook.Result {
	full := hook.Result{Namespace: "jobs", AppIDs: []string{"spark-a", "spark-b"}, DryRun: true, Seconds: 1.5,
		Deleted:    []hook.Entry{{Namespace: "jobs", Name: "a", UID: "u1", Kind: rule.KindDriverConf, Decision: hook.WouldDelete, AgeText: "1h0m0s", Age: time.Hour}, {Name: "b", UID: "u2", Decision: hook.Deleted}},
		Skipped:    []hook.Entry{{Name: "c", UID: "u3", Decision: hook.Skipped, Reason: `in use by Pod "x"`}, {Name: "e", UID: "u5", Decision: hook.Skipped, Reason: "kept: yes"}},
		Failed:     []hook.Entry{{Name: "d", UID: "u4", Decision: hook.Failed, Reason: "boom\nline"}},
		Counts:     hook.Counts{Deleted: 2, Skipped: 2, Failed: 1},
		Unreadable: []hook.NamespaceNote{{Namespace: "secret-team", Reason: "forbidden"}}}
	return map[string]hook.Result{
		"empty": {Namespace: "jobs", AppIDs: []string{}, Deleted: []hook.Entry{}, Skipped: []hook.Entry{}, Failed: []hook.Entry{}},
		"full":  full,
	}
}

// The json and yaml printers write the result entry by entry; the document
// is still the one encoding/json and sigs.k8s.io/yaml make of the whole
// result, with the entries before the summary.
func TestStreamedDocumentsAreTheResultItself(t *testing.T) {
	for name, r := range sampleResults() {
		for _, format := range []string{"json", "yaml"} {
			t.Run(format+"/"+name, func(t *testing.T) {
				var buf bytes.Buffer
				if err := printResult(format, &buf, nil, &r); err != nil {
					t.Fatal(err)
				}
				var got, want any
				var wantBytes []byte
				if format == "json" {
					wantBytes, _ = json.MarshalIndent(r, "", "  ")
					if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
						t.Fatalf("not JSON: %v\n%s", err, buf.String())
					}
					_ = json.Unmarshal(wantBytes, &want)
				} else {
					wantBytes, _ = yaml.Marshal(r)
					if err := yaml.Unmarshal(buf.Bytes(), &got); err != nil {
						t.Fatalf("not YAML: %v\n%s", err, buf.String())
					}
					_ = yaml.Unmarshal(wantBytes, &want)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("streamed %s differs:\n%s\nwant\n%s", format, buf.String(), wantBytes)
				}
				if e, c := strings.Index(buf.String(), "entries"), strings.Index(buf.String(), "counts"); e < 0 || c < e {
					t.Errorf("the summary must follow the entries:\n%s", buf.String())
				}
				var back hook.Result
				if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil {
					t.Fatalf("the document does not read back into a Result: %v", err)
				}
				if back.Counts != r.Counts || len(back.Deleted) != len(r.Deleted) || len(back.Skipped) != len(r.Skipped) || len(back.Failed) != len(r.Failed) {
					t.Errorf("read back %+v, want %+v", back, r)
				}
			})
		}
	}
}

// A document is printed as its entries are recorded: a sweep's ledger of
// any size is never held, nor written anywhere but stdout (a read-only
// root file system has no room for a temporary file).
func TestADocumentWritesEachEntryAsItIsRecorded(t *testing.T) {
	for _, format := range []string{"json", "yaml"} {
		t.Run(format, func(t *testing.T) {
			t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "does-not-exist"))
			var buf bytes.Buffer
			s := sinkFor(format, &buf, nil)
			const n = 5000
			for i := range n {
				s.record(hook.Entry{Name: fmt.Sprintf("spark-exec-%d-conf-map", i), UID: "u", Decision: hook.Deleted})
			}
			// bufio holds at most its buffer: almost all of it is out.
			if buf.Len() == 0 || !strings.Contains(buf.String(), "spark-exec-0-conf-map") || !strings.Contains(buf.String(), fmt.Sprintf("spark-exec-%d-conf-map", n-200)) {
				t.Fatalf("after %d entries and before finish, %d bytes were written", n, buf.Len())
			}
			if err := s.finish(&hook.Result{Counts: hook.Counts{Deleted: n}}); err != nil {
				t.Fatal(err)
			}
			var back hook.Result
			if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Deleted) != n || back.Counts.Deleted != n {
				t.Fatalf("read back %d entries, counts %+v, err %v", len(back.Deleted), back.Counts, err)
			}
		})
	}
}

func TestTextAndCSVPrintEveryEntryAndTheCounts(t *testing.T) {
	r := sampleResults()["full"]
	var text, ledger bytes.Buffer
	if err := printResult("text", &text, nil, &r); err != nil {
		t.Fatal(err)
	}
	if err := printResult("csv", &ledger, nil, &r); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		if !strings.Contains(text.String(), " "+name+" ") || !strings.Contains(ledger.String(), ","+name+",") {
			t.Errorf("entry %s missing:\n%s\n%s", name, text.String(), ledger.String())
		}
	}
	if !strings.Contains(text.String(), "would delete 2, skipped 2, failed 1") || !strings.Contains(text.String(), "namespace secret-team not swept: forbidden") {
		t.Errorf("summary:\n%s", text.String())
	}
	records, err := csv.NewReader(&ledger).ReadAll()
	if err != nil || len(records) != 6 {
		t.Errorf("csv has %d records (%v), want a header and 5", len(records), err)
	}
}

// The text summary names the applications whose maps went, a few of them
// when there are many: a streamed sweep's result holds their ids, not its
// entries.
func TestTextSummaryNamesTheApplications(t *testing.T) {
	many := make([]string, textAppIDs+3)
	for i := range many {
		many[i] = fmt.Sprintf("spark-%02d", i)
	}
	for name, tc := range map[string]struct {
		ids  []string
		want string
	}{
		"none": {nil, "deleted 0, skipped 0, failed 0 ConfigMap(s) in"},
		"two":  {[]string{"spark-a", "spark-b"}, "ConfigMap(s) of application(s) spark-a, spark-b in"},
		"many": {many, "of application(s) spark-00, spark-01, spark-02, spark-03, spark-04, spark-05, spark-06, spark-07, spark-08, spark-09 and 3 more in"},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			s := sinkFor("text", &buf, nil)
			if err := s.finish(&hook.Result{AppIDs: tc.ids}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tc.want) {
				t.Errorf("summary %q, want it to contain %q", buf.String(), tc.want)
			}
		})
	}
}

// printResult prints a result whose entries it holds, as the deleting
// commands do once their run ends.
func printResult(format string, w io.Writer, log *slog.Logger, r *hook.Result) error {
	s := sinkFor(format, w, log)
	feed(s, r)
	return s.finish(r)
}
