package faults

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// ToxicKinds are the connection faults a schedule draws from.
var ToxicKinds = []string{"reset_peer", "timeout", "limit_data", "latency", "slow_close"}

// Window is one connection fault, active from At for For after the run
// starts.
type Window struct {
	At, For time.Duration
	Toxic   kubecluster.Toxic
}

// Schedule draws n windows of connection faults from seed, all within
// span: which toxic, on which direction, with which attributes, when and
// for how long.
func Schedule(seed uint64, n int, span time.Duration) []Window {
	rng := rand.New(rand.NewPCG(seed, seed^0x70c1c))
	var out []Window
	for i := range n {
		kind := ToxicKinds[rng.IntN(len(ToxicKinds))]
		x := kubecluster.Toxic{Name: fmt.Sprintf("%s-%d", kind, i), Type: kind, Stream: "downstream", Attributes: map[string]int64{}}
		if rng.IntN(4) == 0 {
			x.Stream = "upstream"
		}
		switch kind {
		case "reset_peer":
			x.Attributes["timeout"] = int64(rng.IntN(300))
		case "timeout":
			// A hang: no data passes, and the connection is closed after
			// the timeout (0: never, until the toxic goes).
			x.Attributes["timeout"] = int64(rng.IntN(3) * 500)
		case "limit_data":
			// A list or a watch cut mid-answer.
			x.Attributes["bytes"] = int64(200 + rng.IntN(20000))
		case "latency":
			x.Attributes["latency"] = int64(20 + rng.IntN(300))
			x.Attributes["jitter"] = int64(rng.IntN(50))
		case "slow_close":
			x.Attributes["delay"] = int64(100 + rng.IntN(1000))
		}
		out = append(out, Window{
			At:    time.Duration(rng.Int64N(int64(span))),
			For:   time.Duration(200+rng.IntN(1500)) * time.Millisecond,
			Toxic: x,
		})
	}
	return out
}

// Wire counts what the client side of a proxy saw on its sockets: the
// bytes that crossed them and the connections that broke under it (a read
// or write that failed before the client closed the connection itself:
// a reset, an end of stream, a timeout). It is the evidence that a
// connection fault reached the tool, independent of the schedule.
type Wire struct {
	bytes, conns, broken atomic.Int64
}

// Config returns a copy of cfg whose connections Wire counts.
func (w *Wire) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	var d net.Dialer
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		w.conns.Add(1)
		return &wireConn{Conn: c, w: w}, nil
	}
	return cfg
}

// Bytes is how many bytes the client read and wrote through the proxy.
func (w *Wire) Bytes() int64 { return w.bytes.Load() }

// Conns is how many connections the client opened through the proxy.
func (w *Wire) Conns() int64 { return w.conns.Load() }

// Broken is how many of them broke under the client.
func (w *Wire) Broken() int64 { return w.broken.Load() }

type wireConn struct {
	net.Conn
	w              *Wire
	closed, broken atomic.Bool
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.note(n, err)
	return n, err
}

func (c *wireConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.note(n, err)
	return n, err
}

func (c *wireConn) note(n int, err error) {
	c.w.bytes.Add(int64(n))
	// An error after the client's own Close is the client's doing.
	if err != nil && !c.closed.Load() && c.broken.CompareAndSwap(false, true) {
		c.w.broken.Add(1)
	}
}

func (c *wireConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// Played is what became of a schedule.
type Played struct {
	// Scheduled is the number of windows in the schedule.
	Scheduled int
	// Applied counts the windows toxiproxy held at full toxicity while
	// the client's connections through it moved bytes: toxiproxy's answer
	// and the client's sockets say so, not the schedule.
	Applied int
	// ByKind is Applied by toxic type.
	ByKind map[string]int
}

// Play runs a schedule against p, one window at a time (a window due while
// another is live starts when it ends), until the schedule is done or ctx
// ends, and returns a function that ends it, removes the toxic it left and
// reports what was applied. wire is the client side of p. Errors of
// toxiproxy's own API are reported through errf.
//
// One toxic at a time, never touching any other on p, is what keeps
// toxiproxy whole while a reset_peer, limit_data or timeout toxic has
// closed connections under it (see kubecluster.Toxiproxy).
func Play(ctx context.Context, p *kubecluster.Toxiproxy, windows []Window, wire *Wire, errf func(string, ...any)) (stop func() Played) {
	ctx, cancel := context.WithCancel(ctx)
	windows = slices.Clone(windows)
	slices.SortStableFunc(windows, func(a, b Window) int { return cmp.Compare(a.At, b.At) })
	played := Played{Scheduled: len(windows), ByKind: map[string]int{}}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		for _, w := range windows {
			select {
			case <-time.After(time.Until(start.Add(w.At))):
			case <-ctx.Done():
				return
			}
			// Added and removed even once ctx ends: the caller may
			// still use p, and a toxic left behind would hit it.
			held, err := p.AddToxic(context.WithoutCancel(ctx), w.Toxic)
			if err != nil {
				errf("add toxic %s: %v", w.Toxic.Name, err)
				return
			}
			before := wire.Bytes()
			select {
			case <-time.After(w.For):
			case <-ctx.Done():
			}
			moved := wire.Bytes() != before
			if err := p.RemoveToxic(context.WithoutCancel(ctx), w.Toxic.Name); err != nil {
				errf("remove toxic %s: %v", w.Toxic.Name, err)
				return
			}
			if held.Toxicity >= 1 && moved {
				played.Applied++
				played.ByKind[w.Toxic.Type]++
			}
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return func() Played {
		cancel()
		<-done
		return played
	}
}
