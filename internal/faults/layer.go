// Package faults injects, by seeded schedules, the failures an API server
// and the network in front of it produce only sometimes: error answers
// (500/503/504 with and without Retry-After, 429, an HTML page from a proxy)
// from an HTTP layer around the client's transport (rest.Config.Wrap), and
// connection faults (reset, hang, a cut mid-answer, latency, slow close)
// through toxiproxy. Tests only: it is never linked into the binary.
package faults

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Kind is one fault the HTTP layer injects.
type Kind string

// The faults, each an error answer (a Kubernetes Status, or a page from
// something in front of the API server) or a broken exchange.
const (
	Status500           Kind = "500 Status"
	Status503RetryAfter Kind = "503 Status, Retry-After"
	Status504           Kind = "504 Status"
	Status429RetryAfter Kind = "429 Status, Retry-After"
	HTML502             Kind = "502 HTML page"
	HTML503RetryAfter   Kind = "503 HTML page, Retry-After"
	HTML404             Kind = "404 HTML page"
	HTML409             Kind = "409 HTML page"
	ResetBeforeSending  Kind = "connection reset before the request was sent"
	AnswerLost          Kind = "answer lost after the server acted"
)

// AllKinds are the layer's faults, in a stable order.
var AllKinds = []Kind{Status500, Status503RetryAfter, Status504, Status429RetryAfter, HTML502, HTML503RetryAfter, HTML404, HTML409, ResetBeforeSending, AnswerLost}

// Layer is an http.RoundTripper wrapper that fails some requests, chosen by
// a seeded random source: each request is hit with probability Rate, up to
// Max faults in all (so that a run can finish inside its retry budget).
// Watches are left alone.
type Layer struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rate  float64
	left  int
	kinds []Kind
	count map[Kind]int
}

// NewLayer returns a layer with its own seeded source.
func NewLayer(seed uint64, rate float64, maxFaults int, kinds ...Kind) *Layer {
	if len(kinds) == 0 {
		kinds = AllKinds
	}
	return &Layer{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), rate: rate, left: maxFaults, kinds: kinds, count: map[Kind]int{}}
}

// Wrap is the rest.Config.Wrap function.
func (l *Layer) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		k := l.pick(r)
		switch k {
		case "":
			return rt.RoundTrip(r)
		case ResetBeforeSending:
			return nil, &net.OpError{Op: "write", Net: "tcp", Err: syscall.ECONNRESET}
		case AnswerLost:
			// The server acted on the request; its answer never arrives.
			resp, err := rt.RoundTrip(r)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
			return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
		}
		return answer(k), nil
	})
}

func (l *Layer) pick(r *http.Request) Kind {
	if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left <= 0 || l.rng.Float64() >= l.rate {
		return ""
	}
	k := l.kinds[l.rng.IntN(len(l.kinds))]
	if k == AnswerLost && r.Method != http.MethodDelete && r.Method != http.MethodGet {
		k = ResetBeforeSending // an Event's POST: losing its answer proves nothing
	}
	l.left--
	l.count[k]++
	return k
}

// Injected returns how many faults of each kind were injected.
func (l *Layer) Injected() map[Kind]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[Kind]int, len(l.count))
	for k, n := range l.count {
		out[k] = n
	}
	return out
}

// Total is the number of faults injected.
func (l *Layer) Total() int {
	n := 0
	for _, c := range l.Injected() {
		n += c
	}
	return n
}

// answer builds the error answer of a kind, as the API server (a Status)
// or a proxy in front of it (an HTML page) writes it.
func answer(k Kind) *http.Response {
	code, _ := strconv.Atoi(strings.Fields(string(k))[0])
	h := http.Header{}
	var body string
	if strings.Contains(string(k), "HTML") {
		h.Set("Content-Type", "text/html")
		body = fmt.Sprintf("<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center><hr><center>nginx</center></body></html>", code, http.StatusText(code), code, http.StatusText(code))
	} else {
		h.Set("Content-Type", "application/json")
		reason := map[int]string{500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout", 429: "TooManyRequests"}[code]
		body = fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"injected %s","reason":%q,"code":%d}`, k, reason, code)
	}
	if strings.Contains(string(k), "Retry-After") {
		h.Set("Retry-After", "1")
	}
	return &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)), Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// Summary is "kind: n, ..." in a stable order, for logs.
func Summary(counts map[Kind]int) string {
	var parts []string
	for k, n := range counts {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
