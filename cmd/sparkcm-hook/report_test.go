package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// sampleReport is a backlog of three causes in two namespaces.
func sampleReport(sizes bool) *hook.ReportResult {
	r := &hook.ReportResult{Scope: "jobs,etl", OlderThan: "24h0m0s", OrphanOlderThan: "168h0m0s", Sizes: sizes, Applications: 41,
		Total: hook.Tally{Maps: 210, WouldDelete: 190, Kept: 20, Bytes: 3 << 20}}
	for _, c := range []struct {
		cause            hook.Cause
		maps, del, bytes int
	}{{hook.CauseNoTTL, 180, 175, 3 << 19}, {hook.CauseNoOwner, 20, 15, 1 << 19}, {hook.CauseUserSupplied, 10, 0, 1 << 20}} {
		r.Causes = append(r.Causes, hook.CauseRow{CauseInfo: hook.InfoOf(c.cause), Tally: hook.Tally{Maps: c.maps, WouldDelete: c.del, Kept: c.maps - c.del, Bytes: int64(c.bytes)}})
	}
	r.Kept = []hook.KeptRow{{Reason: rule.KeepInUse, Title: "in use by a Pod that has not terminated", Maps: 12}, {Reason: rule.KeepUserSupplied, Title: "user-supplied: never deleted", Maps: 8}}
	r.Namespaces = []hook.Row{{Key: "jobs", Tally: hook.Tally{Maps: 200}}, {Key: "etl", Tally: hook.Tally{Maps: 10}}}
	r.Kinds = []hook.Row{{Key: "driver-conf", Tally: hook.Tally{Maps: 100}}}
	r.Ages = []hook.Row{{Key: "1d-7d", Tally: hook.Tally{Maps: 150}}, {Key: ">=30d", Tally: hook.Tally{Maps: 60}}}
	r.TopApps = []hook.AppRow{{Namespace: "jobs", AppID: "spark-abc", Cause: hook.CauseNoTTL, Tally: hook.Tally{Maps: 5, WouldDelete: 5}}}
	if sizes {
		r.BigMaps = &hook.BigMaps{Tally: hook.Tally{Maps: 3, Bytes: 2 << 20}, Threshold: hook.BigMapBytes, Title: "local files shipped", Remedy: "ship them through object storage", Example: "--conf spark.kubernetes.file.upload.path=s3a://b/u"}
	}
	return r
}

func TestReportRenderers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		sizes  bool
		want   []string
		check  func(t *testing.T, out string)
	}{
		{name: "text is a few lines with the totals, each cause's fix and why the rest stays", format: "text",
			want: []string{"210 Spark ConfigMap(s) in jobs,etl, of 41 application(s): sweep --older-than 24h0m0s would delete 190, keeps 20",
				"no-ttl", "spec: {timeToLiveSeconds: 3600}", "kept: 12 in use by a Pod", "namespaces: jobs 200, etl 10", "largest application: jobs/spark-abc, 5 map(s) (no-ttl)"},
			check: func(t *testing.T, out string) {
				if n := strings.Count(out, "\n"); n > 12 {
					t.Errorf("text is %d lines, want a few:\n%s", n, out)
				}
			}},
		{name: "text with sizes shows what the backlog costs", format: "text", sizes: true, want: []string{"in jobs,etl; 3.0 MiB", "(175 would go; 1.5 MiB)"}},
		{name: "text with sizes names the big maps and how to stop making them", format: "text", sizes: true,
			want: []string{"big maps: 3 of 256.0 KiB or more (2.0 MiB): local files shipped; fix: ship them through object storage: --conf spark.kubernetes.file.upload.path=s3a://b/u"}},
		{name: "text without sizes shows no bytes", format: "text", check: func(t *testing.T, out string) {
			if strings.Contains(out, "MiB") {
				t.Errorf("bytes without --sizes:\n%s", out)
			}
		}},
		{name: "markdown is tables to paste in a ticket", format: "markdown", sizes: true,
			want: []string{"### Spark ConfigMap backlog in jobs,etl", "| cause | maps | would delete | kept | bytes | fix |", "| no-ttl | 180 | 175 | 5 | 1.5 MiB | set spec.timeToLiveSeconds on the SparkApplication: `spec: {timeToLiveSeconds: 3600}` |",
				"| kept because | maps |", "| namespace | maps |", "| spark-abc | jobs | no-ttl | 5 | 5 |",
				"**Big maps**: 3 of 256.0 KiB or more (2.0 MiB), local files shipped. Fix: ship them through object storage: `--conf spark.kubernetes.file.upload.path=s3a://b/u`"}},
		{name: "markdown escapes a pipe in a cell", format: "markdown", check: func(t *testing.T, _ string) {
			if got := mdCell("a|b\nc"); got != `a\|b c` {
				t.Errorf("cell %q", got)
			}
		}},
		{name: "json holds every count", format: "json", check: func(t *testing.T, out string) {
			var back hook.ReportResult
			if err := json.Unmarshal([]byte(out), &back); err != nil || back.Total.WouldDelete != 190 || len(back.Causes) != 3 || back.Causes[0].Remedy == "" {
				t.Errorf("json read back %+v (%v)", back, err)
			}
		}},
		{name: "yaml holds every count", format: "yaml", check: func(t *testing.T, out string) {
			var back hook.ReportResult
			if err := yaml.Unmarshal([]byte(out), &back); err != nil || back.Total.Kept != 20 || back.TopApps[0].AppID != "spark-abc" {
				t.Errorf("yaml read back %+v (%v)", back, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeReport(&b, tc.format, sampleReport(tc.sizes)); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("no %q in\n%s", w, b.String())
				}
			}
			if tc.check != nil {
				tc.check(t, b.String())
			}
		})
	}
}
