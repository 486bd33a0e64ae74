package kube

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// SkewWarning is the clock offset, or spread between offsets, from which
// the tool warns: ages are still measured safely, but a local clock or an
// API server replica that far off is worth fixing.
const SkewWarning = time.Minute

// ServerClock tells the API server's time from the Date header of its
// answers. Ages are measured against the clock that stamped
// creationTimestamp and the operator's terminationTime, not against the
// local one: a CronJob node whose clock runs an hour fast must not make
// every map an hour older.
//
// Of all offsets seen, the smallest is used: with one server each reading
// is a lower bound of its time (Date is truncated to the second and
// arrives late), and with several (a proxy, replicas whose clocks
// disagree) the stamps may come from the one furthest behind. The smallest
// offset makes every age smallest, so an age is never overstated and an
// owner snapshot never looks later than it was.
type ServerClock struct {
	mu       sync.Mutex
	offset   time.Duration // the smallest server-minus-local time seen
	largest  time.Duration // the largest, to tell the spread
	known    bool
	reported bool // the skew warning was logged
}

// observe records one answer: the server's Date and the local time it
// arrived.
func (c *ServerClock) observe(date, arrived time.Time) {
	off := date.Sub(arrived)
	c.mu.Lock()
	if !c.known {
		c.offset, c.largest, c.known = off, off, true
	} else {
		c.offset, c.largest = min(c.offset, off), max(c.largest, off)
	}
	c.mu.Unlock()
}

// At converts a local instant to a lower bound of the server's time at that
// instant. Before any answer was seen it returns the local time.
func (c *ServerClock) At(local time.Time) time.Time {
	if c == nil {
		return local
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.known {
		return local
	}
	return local.Add(c.offset).Round(0)
}

// Now is a lower bound of the server's current time.
func (c *ServerClock) Now() time.Time { return c.At(time.Now()) }

// Known reports whether any answer carried a Date.
func (c *ServerClock) Known() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known
}

// WarnSkew logs, once per clock, when the local clock is SkewWarning or
// more off the API server's, or when answers disagree by that much (a
// proxy in front of replicas whose clocks differ). Ages are measured on
// the smallest offset either way; the warning says why they may look
// short.
func (c *ServerClock) WarnSkew(log *slog.Logger) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if !c.known || c.reported {
		c.mu.Unlock()
		return
	}
	off, spread := c.offset, c.largest-c.offset
	large := off >= SkewWarning || off <= -SkewWarning || spread >= SkewWarning
	c.reported = large
	c.mu.Unlock()
	if large {
		log.Warn("the API server's clock and the local one disagree; ages are measured on the smallest offset seen, so they may be understated, never overstated",
			"offset", off.Round(time.Second), "spread", spread.Round(time.Second))
	}
}

// Wrap observes the Date of every answer passing through rt.
func (c *ServerClock) Wrap(rt http.RoundTripper) http.RoundTripper {
	return clockTransport{rt: rt, c: c}
}

type clockTransport struct {
	rt http.RoundTripper
	c  *ServerClock
}

func (t clockTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err == nil {
		if d, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
			t.c.observe(d, time.Now())
		}
	}
	return resp, err
}
