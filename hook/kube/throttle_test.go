package kube

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// answerTransport answers each request with the status its path asks for,
// once release is closed (so a test can hold requests in flight).
type answerTransport struct {
	mu      sync.Mutex
	inside  int
	most    int
	release chan struct{}
}

func (a *answerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.inside++
	a.most = max(a.most, a.inside)
	a.mu.Unlock()
	defer func() { a.mu.Lock(); a.inside--; a.mu.Unlock() }()
	if a.release != nil {
		<-a.release
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/reset"):
		return nil, syscall.ECONNRESET
	case strings.HasSuffix(r.URL.Path, "/429"):
		return &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": []string{"1"}}, Body: io.NopCloser(strings.NewReader("Too many requests"))}, nil
	case strings.HasSuffix(r.URL.Path, "/503"):
		return &http.Response{StatusCode: 503, Body: io.NopCloser(strings.NewReader("unavailable"))}, nil
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("{}"))}, nil
}

func send(t *testing.T, rt http.RoundTripper, path string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://api.test"+path, nil)
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_, _ = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func TestThrottleStartsSmallAndGrowsWithEverySuccessUntilTheFirst429(t *testing.T) {
	th := NewThrottle()
	at := &answerTransport{release: make(chan struct{})}
	rt := th.Wrap(at)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { send(t, rt, "/ok") })
	}
	time.Sleep(100 * time.Millisecond)
	at.mu.Lock()
	first := at.inside
	at.mu.Unlock()
	if first != initialWindow {
		t.Fatalf("%d requests in flight before any answer, want %d", first, initialWindow)
	}
	close(at.release)
	wg.Wait()
	// Each success while requests waited for a place made room for one more.
	if got := th.Window(); got < 2*initialWindow {
		t.Fatalf("window %d after 20 successes with 16 waiting, want it at least doubled", got)
	}
	// A window that is never full does not grow: nothing asks for more.
	grown := th.Window()
	for range 10 {
		send(t, rt, "/ok")
	}
	if th.Window() != grown {
		t.Fatalf("window grew from %d to %d with one request at a time", grown, th.Window())
	}
	// Grown that far without a 429, it holds nothing back at all.
	th.limit, th.full = maxWindow, true
	send(t, rt, "/ok")
	if th.Window() != 0 {
		t.Fatalf("window %d past %d, want no limit", th.Window(), maxWindow)
	}
}

func TestThrottleCutsItsWindowByAQuarterOncePerBurstOf429s(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	th := NewThrottle()
	th.now = clock.now
	th.limit = 0 // as after a long run without 429s
	// 16 requests in flight, all rejected: one burst, one cut.
	seqs := make([]uint64, 16)
	for i := range seqs {
		seqs[i], _ = th.acquire(context.Background(), false)
	}
	for _, s := range seqs {
		th.release(s, true, time.Second)
	}
	if got := th.Window(); got != 12 {
		t.Fatalf("window %d after one burst of 429s from 16 in flight, want 12", got)
	}
	// Each later rejection of a request admitted after the cut cuts again,
	// by a quarter but at least one: 12, 9, 7, 6, 5, 4, 3, 2, 1, 1.
	for _, want := range []int{9, 7, 6, 5, 4, 3, 2, 1, 1} {
		s, _ := th.acquire(context.Background(), false)
		th.release(s, true, time.Second)
		if got := th.Window(); got != want {
			t.Fatalf("window %d, want %d", got, want)
		}
	}
}

func TestThrottleGrowsByOneEachIntervalItsFullWindowSucceeds(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1_700_000_000, 0)}
	th := NewThrottle()
	th.now = clock.now
	th.limit = 2
	s, _ := th.acquire(context.Background(), false)
	s2, _ := th.acquire(context.Background(), false)
	th.release(s, true, time.Second) // cut from 2 to 1
	th.release(s2, false, 0)
	if th.Window() != 1 {
		t.Fatalf("window %d, want 1", th.Window())
	}
	// Successes before growEvery passed do not grow it.
	s, _ = th.acquire(context.Background(), false)
	th.release(s, false, 0)
	if th.Window() != 1 {
		t.Fatalf("window %d grew before %s", th.Window(), growEvery)
	}
	clock.add(growEvery)
	s, _ = th.acquire(context.Background(), false)
	th.release(s, false, 0)
	if th.Window() != 1 {
		t.Fatalf("window %d grew before the server's Retry-After (1s) passed", th.Window())
	}
	clock.add(time.Second - growEvery)
	s, _ = th.acquire(context.Background(), false)
	th.release(s, false, 0)
	if th.Window() != 2 {
		t.Fatalf("window %d, want 2 after a full window succeeded for the Retry-After", th.Window())
	}
	// A window that was never full does not grow: nothing asked for more.
	clock.add(growEvery)
	s, _ = th.acquire(context.Background(), false)
	th.release(s, false, 0)
	if th.Window() != 2 {
		t.Fatalf("window %d grew though only 1 of 2 places was used", th.Window())
	}
}

func TestThrottleKeepsRequestsInFlightWithinItsWindowFirstComeFirstServed(t *testing.T) {
	th := NewThrottle()
	th.limit, th.probing = 3, false // as after a 429
	at := &answerTransport{release: make(chan struct{})}
	rt := th.Wrap(at)
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() { send(t, rt, "/ok") })
	}
	time.Sleep(100 * time.Millisecond)
	close(at.release)
	wg.Wait()
	if at.most > 3 {
		t.Fatalf("%d requests in flight with a window of 3", at.most)
	}
}

func TestThrottleGivesItsPlaceBackWhenAWaitingRequestIsCancelled(t *testing.T) {
	th := NewThrottle()
	th.limit, th.probing = 1, false
	s, _ := th.acquire(context.Background(), false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := th.acquire(ctx, false); done <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	th.release(s, false, 0)
	// The window is free again: the next request does not wait.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if _, err := th.acquire(ctx2, false); err != nil {
		t.Fatalf("the window leaked a place: %v", err)
	}
}

func TestThrottleNeverHoldsBackAWatch(t *testing.T) {
	th := NewThrottle()
	th.limit, th.probing = 1, false
	s, _ := th.acquire(context.Background(), false)
	defer th.release(s, false, 0)
	rt := th.Wrap(&answerTransport{})
	done := make(chan struct{})
	go func() { send(t, rt, "/api/v1/pods?watch=true"); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a watch waited for a place in a full window")
	}
}

func TestThrottleCountsEveryAnswerThatTurnedARequestAway(t *testing.T) {
	th := NewThrottle()
	rt := th.Wrap(&answerTransport{})
	for _, p := range []string{"/ok", "/429", "/503", "/reset", "/ok", "/429"} {
		send(t, rt, p)
	}
	if got := th.Counts(); got != (ThrottleCounts{Retried: 4, Throttled: 2}) {
		t.Fatalf("counts %+v, want 4 retried of which 2 throttled", got)
	}
	var none *Throttle
	if none.Counts() != (ThrottleCounts{}) || none.Window() != 0 {
		t.Fatal("a nil throttle must count nothing")
	}
}

func TestThrottleRunsAListAloneOnceThrottledAndHoldsBackWhatCameAfterIt(t *testing.T) {
	th := NewThrottle()
	th.limit, th.probing = 3, false // as after a 429
	ctx := context.Background()
	s1, _ := th.acquire(ctx, false)
	s2, _ := th.acquire(ctx, false)
	admitted := make(chan uint64, 1)
	go func() { s, _ := th.acquire(ctx, true); admitted <- s }()
	waitFor(t, func() bool { th.mu.Lock(); defer th.mu.Unlock(); return len(th.waiting) == 1 })
	// The window has room for one more, but the list came first.
	later := make(chan uint64, 1)
	go func() { s, _ := th.acquire(ctx, false); later <- s }()
	waitFor(t, func() bool { th.mu.Lock(); defer th.mu.Unlock(); return len(th.waiting) == 2 })
	th.release(s1, false, 0)
	select {
	case <-admitted:
		t.Fatal("the list started beside a request in flight")
	case <-later:
		t.Fatal("a request overtook the list waiting before it")
	case <-time.After(50 * time.Millisecond):
	}
	th.release(s2, false, 0)
	list := <-admitted
	select {
	case <-later:
		t.Fatal("a request started beside the list")
	case <-time.After(50 * time.Millisecond):
	}
	th.release(list, false, 0)
	s := <-later
	th.release(s, false, 0)
}

func TestThrottleSendsListsBesideOtherRequestsUntilTheFirst429(t *testing.T) {
	th := NewThrottle()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s1, _ := th.acquire(ctx, false)
	s2, err := th.acquire(ctx, true)
	if err != nil {
		t.Fatalf("a list waited while nothing had been throttled: %v", err)
	}
	s3, err := th.acquire(ctx, false)
	if err != nil {
		t.Fatalf("a request waited behind a list while nothing had been throttled: %v", err)
	}
	for _, s := range []uint64{s1, s2, s3} {
		th.release(s, false, 0)
	}
}

func TestThrottleTellsAListFromAGetByItsPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/v1/namespaces/ns/pods": true,
		"/api/v1/pods":               true,
		"/api/v1/namespaces":         true,
		"/apis/sparkoperator.k8s.io/v1beta2/namespaces/ns/sparkapplications": true,
		"/apis/rbac.authorization.k8s.io/v1/clusterroles":                    true,
		"/api/v1/namespaces/ns":                                                  false,
		"/api/v1/namespaces/ns/pods/driver":                                      false,
		"/api/v1/namespaces/ns/pods/driver/status":                               false,
		"/apis/sparkoperator.k8s.io/v1beta2/namespaces/ns/sparkapplications/etl": false,
		"/readyz":  false,
		"/version": false,
		"/apis":    false,
		"/api":     false,
	} {
		r, _ := http.NewRequest(http.MethodGet, "https://api.test"+path, nil)
		if got := isList(r); got != want {
			t.Errorf("isList(GET %s) = %v, want %v", path, got, want)
		}
	}
	r, _ := http.NewRequest(http.MethodDelete, "https://api.test/api/v1/namespaces/ns/configmaps", nil)
	if isList(r) {
		t.Error("a DELETE of a collection counted as a list")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
