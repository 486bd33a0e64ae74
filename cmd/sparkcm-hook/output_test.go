package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

func sampleResults() map[string]hook.Result {
	full := hook.Result{Namespace: "jobs", AppIDs: []string{"spark-a", "spark-b"}, DryRun: true, Seconds: 1.5,
		Deleted:    []hook.Entry{{Namespace: "jobs", Name: "a", UID: "u1", Kind: hook.KindDriverConf, Decision: hook.WouldDelete, AgeText: "1h0m0s", Age: time.Hour}, {Name: "b", UID: "u2", Decision: hook.Deleted}},
		Skipped:    []hook.Entry{{Name: "c", UID: "u3", Decision: hook.Skipped, Reason: `in use by Pod "x"`}, {Name: "e", UID: "u5", Decision: hook.Skipped, Reason: "kept: yes"}},
		Failed:     []hook.Entry{{Name: "d", UID: "u4", Decision: hook.Failed, Reason: "boom\nline"}},
		Counts:     hook.Counts{Deleted: 2, Skipped: 2, Failed: 1},
		Unreadable: []hook.NamespaceNote{{Namespace: "secret-team", Reason: "forbidden"}}}
	return map[string]hook.Result{
		"empty": {Namespace: "jobs", AppIDs: []string{}, Deleted: []hook.Entry{}, Skipped: []hook.Entry{}, Failed: []hook.Entry{}},
		"full":  full,
	}
}

// The json and yaml printers write the result entry by entry, held in
// memory or spooled to temporary files; either way the document is the
// one encoding/json and sigs.k8s.io/yaml make of the whole result.
func TestStreamedDocumentsAreTheResultItself(t *testing.T) {
	defer func(n int) { spillAfter = n }(spillAfter)
	for _, spill := range []int{1000, 1} {
		spillAfter = spill
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
						wantBytes, _ = json.Marshal(r)
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
						if buf.String() != string(wantBytes) {
							t.Errorf("spill after %d: YAML text differs from sigs.k8s.io/yaml:\n%s\nwant\n%s", spill, buf.String(), wantBytes)
						}
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("spill after %d: streamed %s differs:\n%s\nwant\n%s", spill, format, buf.String(), wantBytes)
					}
				})
			}
		}
	}
}

func TestADocumentSpoolsItsEntriesToTemporaryFiles(t *testing.T) {
	defer func(n int) { spillAfter = n }(spillAfter)
	spillAfter = 2
	var buf bytes.Buffer
	s := sinkFor("json", &buf, nil).(*docSink)
	r := sampleResults()["full"]
	feed(s, &r)
	if !s.spilling() || s.lists[0].file == nil || len(s.lists[0].mem) != 0 {
		t.Fatal("past spillAfter the entries are still held in memory")
	}
	if err := s.finish(&r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"name":"d"`) {
		t.Fatalf("spooled entry missing:\n%s", buf.String())
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
