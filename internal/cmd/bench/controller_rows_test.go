package main

import (
	"testing"
	"time"
)

func TestPercentileIsTheNearestRank(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	for _, c := range []struct {
		name string
		ds   []time.Duration
		p    float64
		want time.Duration
	}{
		{"none", nil, 0.99, 0},
		{"one", ms(7), 0.5, 7 * time.Millisecond},
		{"median of an odd count", ms(30, 10, 20), 0.5, 20 * time.Millisecond},
		{"median of an even count is the lower middle", ms(40, 10, 30, 20), 0.5, 20 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(hundred...), 0.99, 99 * time.Millisecond},
		{"p99 of 150 is the 149th", ms(append(hundred, hundred[:50]...)...), 0.99, 100 * time.Millisecond},
		{"p50 of 100 is the 50th", ms(hundred...), 0.5, 50 * time.Millisecond},
		{"p100 is the largest", ms(3, 9, 1), 1, 9 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percentile(c.ds, c.p); got != c.want {
				t.Errorf("percentile(%v, %v) = %s, want %s", c.ds, c.p, got, c.want)
			}
		})
	}
}

func TestLeakWindowRunsToTheLastMapGoneAndCountsAppsWithAMapLeft(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ended := []time.Time{at(0), at(600), at(1200)}
	maps := [][]string{{"a1", "a2"}, {"b1", "b2"}, {"c1"}}
	gone := map[string]time.Time{"a1": at(300), "a2": at(900), "b1": at(700), "c1": at(1500)}
	leaks, notCleaned := leakWindows(ended, maps, gone)
	if notCleaned != 1 {
		t.Errorf("notCleaned = %d, want 1 (b2 was never seen gone)", notCleaned)
	}
	want := []time.Duration{900 * time.Millisecond, 300 * time.Millisecond}
	if len(leaks) != len(want) || leaks[0] != want[0] || leaks[1] != want[1] {
		t.Errorf("leaks = %v, want %v", leaks, want)
	}
}

func TestTheLeakWindowCountsEveryRequestButTheBenchsPodStatusUpdates(t *testing.T) {
	before, err := parseRequestTotal(`apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PUT",version="v1"} 1
`)
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseRequestTotal(`apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PUT",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="DELETE",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="PUT",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="GET",version="v1"} 1
`)
	if err != nil {
		t.Fatal(err)
	}
	got := excluding(diff(before, after), podStatusUpdate)
	if got.total != 7 || got.by["PUT pods/status 200"] != 0 || got.by["DELETE configmaps 200"] != 5 || got.by["PUT pods 200"] != 1 {
		t.Errorf("the controller's requests = %s, want 7 [DELETE configmaps 200 x5, GET pods 200 x1, PUT pods 200 x1]", got)
	}
}

func TestParseVMReadsPeakAndCurrentRSS(t *testing.T) {
	hwm, rss, err := parseVM("Name:\tsparkcm-hook\nVmPeak:\t 1265432 kB\nVmHWM:\t   41234 kB\nVmRSS:\t   39876 kB\nThreads:\t8\n")
	if err != nil || hwm != 41234 || rss != 39876 {
		t.Errorf("parseVM = %d, %d, %v; want 41234, 39876, nil", hwm, rss, err)
	}
	if _, _, err := parseVM("Name:\tzombie\nState:\tZ (zombie)\n"); err == nil {
		t.Error("parseVM of a status without VmHWM: no error")
	}
}

func TestPromValueMatchesNameAndLabelsExactly(t *testing.T) {
	text := `# HELP sparkcm_hook_configmaps_total ConfigMaps decided.
sparkcm_hook_configmaps_total{decision="deleted",run="cleanup"} 10
sparkcm_hook_configmaps_total{decision="skipped",run="sweep"} 3
sparkcm_hook_applications_cleaned_total 2
sparkcm_hook_applications_cleaned_total_extra 9
sparkcm_hook_leak_seconds_sum 1.5
`
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"sparkcm_hook_configmaps_total", map[string]string{"run": "sweep", "decision": "skipped"}, 3, true},
		{"sparkcm_hook_configmaps_total", map[string]string{"run": "sweep", "decision": "deleted"}, 0, false},
		{"sparkcm_hook_applications_cleaned_total", nil, 2, true},
		{"sparkcm_hook_leak_seconds_sum", nil, 1.5, true},
		{"sparkcm_hook_leak_seconds", nil, 0, false},
	} {
		got, found := promValue(text, c.name, c.labels)
		if got != c.want || found != c.found {
			t.Errorf("promValue(%s, %v) = %v, %v; want %v, %v", c.name, c.labels, got, found, c.want, c.found)
		}
	}
}
