package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

func TestStreamedJSONIsTheResultItself(t *testing.T) {
	for name, r := range map[string]hook.Result{
		"empty": {Namespace: "jobs", AppIDs: []string{}, Deleted: []hook.Entry{}, Skipped: []hook.Entry{}, Failed: []hook.Entry{}},
		"full": {Namespace: "jobs", AppIDs: []string{"spark-a", "spark-b"}, DryRun: true, Seconds: 1.5,
			Deleted: []hook.Entry{{Namespace: "jobs", Name: "a", UID: "u1", Kind: hook.KindDriverConf, Decision: hook.WouldDelete, AgeText: "1h0m0s", Age: time.Hour}, {Name: "b", UID: "u2", Decision: hook.Deleted}},
			Skipped: []hook.Entry{{Name: "c", UID: "u3", Decision: hook.Skipped, Reason: `in use by Pod "x"`}},
			Failed:  []hook.Entry{{Name: "d", UID: "u4", Decision: hook.Failed, Reason: "boom\nline"}}},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeJSON(&buf, &r); err != nil {
				t.Fatal(err)
			}
			var got, want map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, buf.String())
			}
			b, _ := json.Marshal(r)
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("streamed JSON differs from encoding/json:\n%s\n%s", buf.String(), b)
			}
		})
	}
}
