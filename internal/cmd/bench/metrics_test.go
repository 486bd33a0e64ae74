package main

import "testing"

func TestRequestCountDiff(t *testing.T) {
	before, err := parseRequestTotal(`# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 10
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/readyz",verb="GET",version=""} 4
`)
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseRequestTotal(`apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="namespace",subresource="",verb="LIST",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="DELETE",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 12
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="namespaces",scope="resource",subresource="",verb="WATCH",version="v1"} 1
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/readyz",verb="GET",version=""} 9
apiserver_request_total{code="200",component="",dry_run="",group="",resource="",scope="",subresource="/apis",verb="GET",version=""} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 2e+00
`)
	if err != nil {
		t.Fatal(err)
	}
	got := diff(before, after)
	want := map[string]int{"LIST configmaps 200": 2, "DELETE configmaps 200": 7, "GET /apis 200": 1, "LIST pods 200": 2}
	if got.total != 12 || len(got.by) != len(want) {
		t.Fatalf("diff = %s, want 12 requests %v", got, want)
	}
	for k, n := range want {
		if got.by[k] != n {
			t.Errorf("%s: %d, want %d (all: %s)", k, got.by[k], n, got)
		}
	}
}

func TestParseLabelsEscapes(t *testing.T) {
	l, err := parseLabels(`a="x\"y",b="p\\q",c="line\n"`)
	if err != nil {
		t.Fatal(err)
	}
	if l["a"] != `x"y` || l["b"] != `p\q` || l["c"] != "line\n" {
		t.Fatalf("labels = %q", l)
	}
	if _, err := parseLabels(`a="open`); err == nil {
		t.Fatal("unterminated value accepted")
	}
}

func TestNum(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567", -2500: "-2,500"} {
		if got := num(n); got != want {
			t.Errorf("num(%d) = %q, want %q", n, got, want)
		}
	}
}
