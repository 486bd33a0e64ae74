// Package retrytest gives unit tests a retry clock that spends no time, and
// the throttling answer the retries are tested against.
package retrytest

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// FakeTime is an injected retry clock for one test: waits are recorded
// and advance the clock instantly, so a test sees the policy's waits and
// exhausts budgets without spending wall time, and tests run in parallel.
type FakeTime struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// NewFakeTime starts a clock at a fixed instant.
func NewFakeTime() *FakeTime { return &FakeTime{now: time.Unix(1_700_000_000, 0)} }

// Now is the fake clock's time.
func (f *FakeTime) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

// Sleep advances the clock by d at once, unless ctx has ended.
func (f *FakeTime) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	return nil
}

// Waits are the waits asked for so far, in order.
func (f *FakeTime) Waits() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.waits...)
}

// Apply puts the fake clock into a retry policy.
func (f *FakeTime) Apply(p kube.RetryPolicy) kube.RetryPolicy {
	p.Clock, p.Sleep = f, f.Sleep
	return p
}

// TooManyRequests is the API server's 429 asking to wait seconds.
func TooManyRequests(seconds int) error {
	return apierrors.NewTooManyRequests("slow down", seconds)
}
