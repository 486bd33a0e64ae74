package kube

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Throttle sits in the clients' HTTP transport, below client-go's own
// retries, so it sees every answer: it counts the ones that turned a request
// away for a while (throttled with 429, a 5xx, a broken or refused
// connection), and it adapts how many requests are in flight to the API
// server's throttling.
//
// The API server's priority and fairness gives each priority level a few
// seats and rejects what does not fit with 429 and a Retry-After. A client
// that keeps 32 requests in flight against 3 seats has 29 rejected at a
// time, each backing off alone, and the server raises its Retry-After (up
// to 32s) while it keeps rejecting three or more a second. So after a 429
// the throttle lets a quarter fewer requests through, at least one fewer
// (once per burst of rejections: only a request admitted after the last
// cut can cut again), and while no 429 comes it lets one more through each
// interval in which the window was full: growEvery, or the last Retry-After
// when that is longer. The probing then costs the server about one
// rejection per Retry-After, which lets its Retry-After come back down, and
// a window of n keeps n or n-1 seats busy (halving would leave a 3-seat
// level a third idle).
//
// Until the first 429 the window starts at initialWindow and grows by one
// with every success while it is full, doubling each round trip: an unthrottled client
// reaches its own concurrency within a few round trips, and a throttled one
// meets its first 429 with a handful of requests in flight. Were all 32 of
// a sweep's deletes rejected at once, all 32 would sleep through the
// Retry-After together, and the server, seeing the burst, would raise it.
// Watches are never held: they stay open for minutes and take no seat once
// started.
//
// Once throttled, a list runs alone: the server charges a LIST a seat per
// hundred objects it may go through (up to the level's maximum), so on a
// level of a few seats it fits only when nothing else of the client's is in
// flight. Sent beside deletes it is rejected, and sweep's re-check of the
// Pods before each batch then sleeps through the Retry-After while every
// delete waits for it. A list waits its turn, lets what is in flight end,
// and admits nothing else until its answer has been read.
type Throttle struct {
	mu sync.Mutex
	// limit is how many requests may be in flight; 0 means no limit (the
	// window grew past maxWindow).
	limit    int
	probing  bool // no 429 yet: grow with every success
	inflight int
	admitted uint64 // requests let through so far
	cutAt    uint64 // admitted when the window was last cut
	grewAt   time.Time
	pause    time.Duration // the last Retry-After, when longer than growEvery
	full     bool          // the window was full since the last change
	waiting  []waiter      // first come first served
	// alone is the admission number of the list in flight that runs
	// alone, 0 when there is none.
	alone uint64

	retried, throttled atomic.Int64
	now                func() time.Time
}

// ThrottleCounts are what a Throttle counted.
type ThrottleCounts struct {
	// Retried counts answers that turned a request away for a while: 429,
	// 5xx, or a connection that broke, timed out or was refused. Each was
	// followed by another try (client-go's own, or the library's backoff)
	// unless the request's budget ran out.
	Retried int
	// Throttled counts the 429s among them.
	Throttled int
}

const (
	// initialWindow is the window before any answer came back.
	initialWindow = 4
	// growEvery is how often the window may grow by one while no 429 comes.
	growEvery = 500 * time.Millisecond
	// maxWindow: a window that grew this far holds nothing back any more.
	maxWindow = 256
)

// NewThrottle returns a Throttle whose window starts at initialWindow.
func NewThrottle() *Throttle {
	return &Throttle{now: time.Now, limit: initialWindow, probing: true}
}

// Counts returns what the throttle counted so far. A nil Throttle (fake
// clients) counts nothing.
func (t *Throttle) Counts() ThrottleCounts {
	if t == nil {
		return ThrottleCounts{}
	}
	return ThrottleCounts{Retried: int(t.retried.Load()), Throttled: int(t.throttled.Load())}
}

// Window is how many requests may be in flight now; 0 means no limit.
func (t *Throttle) Window() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}

// waiter is a request waiting for its place; ch gets its admission number.
type waiter struct {
	ch    chan uint64
	alone bool
}

// acquire waits for a place in the window, first come first served; a
// list runs alone once the server has throttled (see Throttle).
func (t *Throttle) acquire(ctx context.Context, list bool) (uint64, error) {
	t.mu.Lock()
	alone := list && !t.probing && t.limit > 0
	if len(t.waiting) == 0 && t.fits(alone) {
		seq := t.admitLocked(alone)
		t.mu.Unlock()
		return seq, nil
	}
	w := waiter{ch: make(chan uint64, 1), alone: alone}
	t.waiting = append(t.waiting, w)
	t.mu.Unlock()
	select {
	case seq := <-w.ch:
		return seq, nil
	case <-ctx.Done():
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, o := range t.waiting {
			if o.ch == w.ch {
				t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
				// A list that gave up no longer holds back those behind it.
				t.wakeLocked()
				return 0, ctx.Err()
			}
		}
		// Admitted just as the context ended: give the place back.
		t.freeLocked(<-w.ch)
		t.wakeLocked()
		return 0, ctx.Err()
	}
}

// fits says whether a request may start now; alone, only into an empty
// window.
func (t *Throttle) fits(alone bool) bool {
	switch {
	case t.limit == 0:
		return true
	case t.alone != 0:
		return false
	case alone:
		return t.inflight == 0
	}
	return t.inflight < t.limit
}

func (t *Throttle) admitLocked(alone bool) uint64 {
	t.inflight++
	t.admitted++
	if t.limit > 0 && t.inflight >= t.limit {
		t.full = true
	}
	if alone {
		t.alone = t.admitted
	}
	return t.admitted
}

// freeLocked gives back the place of the request admitted as seq.
func (t *Throttle) freeLocked(seq uint64) {
	t.inflight--
	if seq == t.alone {
		t.alone = 0
	}
}

// wakeLocked admits waiters while the window has room.
func (t *Throttle) wakeLocked() {
	for len(t.waiting) > 0 && t.fits(t.waiting[0].alone) {
		w := t.waiting[0]
		t.waiting = t.waiting[1:]
		w.ch <- t.admitLocked(w.alone)
	}
}

// release frees a place; throttled says the API server answered 429, and
// retryAfter is when it asked to be asked again.
func (t *Throttle) release(seq uint64, throttled bool, retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.freeLocked(seq)
	now := t.now()
	switch {
	case throttled && seq > t.cutAt:
		base := t.limit
		if base == 0 {
			base = t.inflight + 1
		}
		t.limit = max(1, min(base-1, (3*base+3)/4))
		t.cutAt, t.grewAt, t.full, t.pause, t.probing = t.admitted, now, false, retryAfter, false
	case throttled:
		t.pause = max(t.pause, retryAfter)
	case t.limit > 0 && t.probing && t.full:
		t.limit++
		t.full = t.inflight >= t.limit
		if t.limit > maxWindow {
			t.limit = 0
		}
	case t.limit > 0 && t.full && now.Sub(t.grewAt) >= max(growEvery, t.pause):
		t.limit++
		t.grewAt, t.full = now, false
		if t.limit > maxWindow {
			t.limit = 0
		}
	}
	t.wakeLocked()
}

// Wrap is the transport layer; NewClients installs it.
func (t *Throttle) Wrap(rt http.RoundTripper) http.RoundTripper {
	return throttleTransport{rt: rt, t: t}
}

type throttleTransport struct {
	rt http.RoundTripper
	t  *Throttle
}

func (tt throttleTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if isWatch(r) {
		resp, err := tt.rt.RoundTrip(r)
		tt.t.count(resp, err)
		return resp, err
	}
	seq, err := tt.t.acquire(r.Context(), isList(r))
	if err != nil {
		return nil, err
	}
	resp, err := tt.rt.RoundTrip(r)
	tt.t.count(resp, err)
	if err != nil {
		tt.t.release(seq, false, 0)
		return resp, err
	}
	throttled := resp.StatusCode == http.StatusTooManyRequests
	var retryAfter time.Duration
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		tt.t.release(seq, throttled, retryAfter)
		return resp, nil
	}
	// The API server holds the request's seat until it has written the
	// whole answer (a page of a list can take a while): so does the window.
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { tt.t.release(seq, throttled, retryAfter) }}
	return resp, nil
}

// count files one answer.
func (t *Throttle) count(resp *http.Response, err error) {
	switch {
	case err != nil:
		if IsTransient(err) {
			t.retried.Add(1)
		}
	case resp.StatusCode == http.StatusTooManyRequests:
		t.throttled.Add(1)
		t.retried.Add(1)
	case resp.StatusCode >= 500:
		t.retried.Add(1)
	}
}

func isWatch(r *http.Request) bool {
	w := r.URL.Query().Get("watch")
	return w == "true" || w == "1"
}

// isList says whether a request (not a watch) reads a collection: a GET of
// /api/v1/R, /api/v1/namespaces/NS/R, /apis/G/V/R or
// /apis/G/V/namespaces/NS/R. One more segment names an object, two a
// subresource.
func isList(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		segs = segs[3:]
	default:
		return false
	}
	return len(segs) == 1 || (len(segs) == 3 && segs[0] == "namespaces")
}

// releasingBody frees the request's place once its answer was read to the
// end or closed, whichever comes first.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
