package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
)

// The API server counts every request it answers in apiserver_request_total
// (by verb, group, resource, subresource and code). The control plane is
// private to this program and idle between rows, so the change of that
// counter over one row is the number of requests the row's tool sent. Only
// the API server's own periodic traffic is left out (its informers' WATCHes,
// its periodic LIST of Services, leases, flow-control status, OpenAPI
// aggregation, health checks): no measured run sends any of those.

// series identifies one apiserver_request_total time series.
type series struct {
	verb, group, resource, subresource, code string
}

func (s series) String() string {
	r := s.resource
	if s.group != "" {
		r += "." + s.group
	}
	if s.subresource != "" {
		if r == "" {
			r = s.subresource // a non-resource path
		} else {
			r += "/" + s.subresource
		}
	}
	return fmt.Sprintf("%s %s %s", s.verb, r, s.code)
}

// background is the API server's own periodic traffic, never a tool's.
func (s series) background() bool {
	if s.resource == "" {
		switch {
		case s.subresource == "/readyz", s.subresource == "/livez", s.subresource == "/healthz", s.subresource == "/metrics":
			return true
		case strings.HasPrefix(s.subresource, "openapi"), strings.HasPrefix(s.subresource, "/openapi"):
			return true
		}
		return false
	}
	if s.verb == "WATCH" || s.verb == "WATCHLIST" {
		// The API server's own informers re-establish their watches every
		// few minutes; none of the measured runs watches.
		return true
	}
	switch s.resource {
	case "services", "leases", "flowschemas", "prioritylevelconfigurations", "apiservices", "customresourcedefinitions", "servicecidrs", "ipaddresses":
		return true
	}
	return false
}

type snapshot map[series]float64

// requestCounter reads the API server's request counter.
type requestCounter struct {
	kube kubernetes.Interface
}

func (c requestCounter) snapshot(ctx context.Context) (snapshot, error) {
	raw, err := c.kube.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the API server's metrics: %w", err)
	}
	return parseRequestTotal(string(raw))
}

// parseRequestTotal picks apiserver_request_total out of the Prometheus text
// format.
func parseRequestTotal(text string) (snapshot, error) {
	const name = "apiserver_request_total{"
	out := snapshot{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			return nil, fmt.Errorf("metrics line without closing brace: %q", line)
		}
		labels, err := parseLabels(line[len(name):end])
		if err != nil {
			return nil, err
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			return nil, fmt.Errorf("metrics value in %q: %w", line, err)
		}
		s := series{verb: labels["verb"], group: labels["group"], resource: labels["resource"], subresource: labels["subresource"], code: labels["code"]}
		out[s] += v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no apiserver_request_total in the API server's metrics")
	}
	return out, nil
}

// parseLabels reads `a="x",b="y"` with Prometheus escapes.
func parseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, fmt.Errorf("bad label list %q", s)
		}
		key := s[:eq]
		var b strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				if s[i] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, fmt.Errorf("unterminated label value in %q", s)
		}
		labels[key] = b.String()
		s = strings.TrimPrefix(s[i+1:], ",")
	}
	return labels, nil
}

// requests is what one row sent, as the API server counted it.
type requests struct {
	total int
	by    map[string]int // "VERB resource code" -> count
}

func (r requests) String() string {
	keys := make([]string, 0, len(r.by))
	for k := range r.by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, r.by[k]))
	}
	return fmt.Sprintf("%d [%s]", r.total, strings.Join(parts, ", "))
}

func diff(before, after snapshot) requests {
	r := requests{by: map[string]int{}}
	for s, v := range after {
		if s.background() {
			continue
		}
		if d := int(v - before[s]); d > 0 {
			r.total += d
			r.by[s.String()] += d
		}
	}
	return r
}

// measure counts the requests fn caused.
func (c requestCounter) measure(ctx context.Context, fn func() error) (requests, error) {
	before, err := c.snapshot(ctx)
	if err != nil {
		return requests{}, err
	}
	fnErr := fn()
	after, err := c.snapshot(ctx)
	if err != nil {
		return requests{}, err
	}
	return diff(before, after), fnErr
}
