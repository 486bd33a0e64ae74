package hook

import (
	"net/http"
	"sync"
	"time"
)

// ServerClock tells the API server's time from the Date header of its
// answers. Ages are measured against the clock that stamped
// creationTimestamp and the operator's terminationTime, not against the
// local one: a CronJob node whose clock runs an hour fast must not make
// every map an hour older.
//
// Every reading is a lower bound of the server's time (Date is truncated
// to the second and arrives late), so ages are never overstated and an
// owner snapshot never looks later than it was.
type ServerClock struct {
	mu     sync.Mutex
	offset time.Duration // server time minus local time, at least
	known  bool
}

// observe records one answer: the server's Date and the local time it
// arrived. Of all answers, the one that proves the largest offset is kept:
// each is a true lower bound, so the largest is the tightest.
func (c *ServerClock) observe(date, arrived time.Time) {
	off := date.Sub(arrived)
	c.mu.Lock()
	if !c.known || off > c.offset {
		c.offset, c.known = off, true
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

// wrap observes the Date of every answer passing through rt.
func (c *ServerClock) wrap(rt http.RoundTripper) http.RoundTripper {
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
