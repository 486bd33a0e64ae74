package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/internal/testbed"
)

// ToxicKinds are the connection faults a schedule draws from.
var ToxicKinds = []string{"reset_peer", "timeout", "limit_data", "latency", "slow_close"}

// Window is one connection fault, active from At for For after the run
// starts.
type Window struct {
	At, For time.Duration
	Toxic   testbed.Toxic
}

// Schedule draws n windows of connection faults from seed, all within
// span: which toxic, on which direction, with which attributes, when and
// for how long.
func Schedule(seed uint64, n int, span time.Duration) []Window {
	rng := rand.New(rand.NewPCG(seed, seed^0x70c1c))
	var out []Window
	for i := range n {
		kind := ToxicKinds[rng.IntN(len(ToxicKinds))]
		x := testbed.Toxic{Name: fmt.Sprintf("%s-%d", kind, i), Type: kind, Stream: "downstream", Attributes: map[string]int64{}}
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

// Play runs a schedule against p until it is done or ctx ends, and returns
// a function that waits for it and removes every toxic it left. Errors of
// toxiproxy's own API are reported through errf.
func Play(ctx context.Context, p *testbed.Toxiproxy, windows []Window, errf func(string, ...any)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range windows {
		wg.Go(func() {
			select {
			case <-time.After(time.Until(start.Add(w.At))):
			case <-ctx.Done():
				return
			}
			if err := p.AddToxic(context.Background(), w.Toxic); err != nil {
				errf("add toxic %s: %v", w.Toxic.Name, err)
				return
			}
			select {
			case <-time.After(w.For):
			case <-ctx.Done():
			}
			if err := p.RemoveToxic(context.Background(), w.Toxic.Name); err != nil {
				errf("remove toxic %s: %v", w.Toxic.Name, err)
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
		if err := p.Reset(context.Background()); err != nil {
			errf("reset toxiproxy: %v", err)
		}
	}
}
