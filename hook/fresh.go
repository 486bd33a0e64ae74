package hook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// recheckFunc reads again, for one entry, what its delete rests on. It
// returns why the map must stay now ("" to delete it) and when the reads it
// rests on began (on the retry policy's clock).
type recheckFunc func(ctx context.Context, e Entry) (reason rule.Reason, at time.Time, err error)

// staleError is a delete held back because the re-check it rests on is
// older than the bound: it was not sent.
type staleError struct{ age, bound time.Duration }

func (e *staleError) Error() string {
	return fmt.Sprintf("not sent: the re-check it rests on is %s old, more than %s", e.age.Round(time.Millisecond), e.bound)
}

// sendGuardKey carries a delete's guard in its context down to the
// transport (guardSends), which asks it just before the request goes on
// the wire: a delete waits behind the throttle, and client-go sends a
// DELETE answered 429 again after its Retry-After by itself, both below
// any check the deleter itself can make.
type sendGuardKey struct{}

type sendGuard func() error

func withSendGuard(ctx context.Context, g sendGuard) context.Context {
	return context.WithValue(ctx, sendGuardKey{}, g)
}

// sendMarkKey carries a sendMark in a read's context down to the transport.
type sendMarkKey struct{}

// sendMark records when a read last went on the wire: the state it
// answers with is at least that recent. The time spent waiting for a place
// in the throttle, or by client-go for a Retry-After before it sends again,
// does not make a re-read look older than it is.
type sendMark struct {
	now func() time.Time
	mu  sync.Mutex
	at  time.Time
}

func (m *sendMark) sent() {
	t := m.now()
	m.mu.Lock()
	m.at = t
	m.mu.Unlock()
}

// last is when the read last went on the wire, or fallback where it never
// passed a transport that marks (fake clients).
func (m *sendMark) last(fallback time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at.IsZero() {
		return fallback
	}
	return m.at
}

func withSendMark(ctx context.Context, m *sendMark) context.Context {
	return context.WithValue(ctx, sendMarkKey{}, m)
}

// guardSends is the transport layer that asks a request's guard, if it has
// one, before sending it, and marks when it is sent. NewClients installs it
// below the throttle, so that a request is asked after it waited for its
// place.
func guardSends(rt http.RoundTripper) http.RoundTripper {
	return guardTransport{rt}
}

type guardTransport struct{ rt http.RoundTripper }

func (g guardTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if guard, ok := r.Context().Value(sendGuardKey{}).(sendGuard); ok {
		if err := guard(); err != nil {
			return nil, err
		}
	}
	if m, ok := r.Context().Value(sendMarkKey{}).(*sendMark); ok {
		m.sent()
	}
	return g.rt.RoundTrip(r)
}

// freshReads shares re-reads among the deletes that need one at the same
// time: when many deletes of a namespace wake from one Retry-After, one
// read of its Pods (and one of each application) serves them all.
type freshReads[T any] struct {
	mu    sync.Mutex
	reads map[string]*freshRead[T]
}

type freshRead[T any] struct {
	done chan struct{}
	at   time.Time
	val  T
	err  error
}

// get returns a read of key that began at or after notBefore: the last one
// if it did, else a new one (one at a time per key, shared by every caller
// waiting for it).
func (f *freshReads[T]) get(ctx context.Context, key string, notBefore time.Time, read func(context.Context) (T, time.Time, error)) (T, time.Time, error) {
	for {
		f.mu.Lock()
		if f.reads == nil {
			f.reads = map[string]*freshRead[T]{}
		}
		r := f.reads[key]
		if r == nil {
			r = &freshRead[T]{done: make(chan struct{})}
			f.reads[key] = r
			f.mu.Unlock()
			r.val, r.at, r.err = read(ctx)
			if r.err != nil {
				f.mu.Lock()
				if f.reads[key] == r {
					delete(f.reads, key) // the next caller tries again
				}
				f.mu.Unlock()
			}
			close(r.done)
			return r.val, r.at, r.err
		}
		f.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			var zero T
			return zero, time.Time{}, ctx.Err()
		}
		if r.err == nil && !r.at.Before(notBefore) {
			return r.val, r.at, nil
		}
		f.mu.Lock()
		if f.reads[key] == r {
			delete(f.reads, key) // too old (or failed): the next read replaces it
		}
		f.mu.Unlock()
	}
}

// readAppLive reads one SparkApplication again, by name, and says why its
// maps must stay now ("" when they need not), and when the read that
// answered began. The
// same object (by UID) in a state that is not final is live; one gone, or
// replaced by a new one of the same name, no longer speaks for the maps
// judged by the old one.
func readAppLive(ctx context.Context, c Clients, log *slog.Logger, p RetryPolicy, group, ns, name string, uid types.UID) (rule.Reason, time.Time, error) {
	var (
		u     *unstructured.Unstructured
		began time.Time
	)
	api := sparkOperatorAPI
	if group == ApacheSparkGroup {
		api = apacheAppsAPI
	}
	gvr, served, err := appResource(ctx, c, group)
	if err != nil {
		return rule.StateUnknown(err.Error()), p.Clock.Now(), nil
	}
	if !served {
		return rule.Reason{}, p.Clock.Now(), nil // the group is gone, and every application of it
	}
	m := &sendMark{now: p.Clock.Now}
	err = kube.CallAPI(ctx, log, p, ns, "get sparkapplication "+name, "get", gvr.Group, gvr.Resource, func(ctx context.Context) error {
		began = p.Clock.Now()
		var err error
		u, err = c.api().GetApp(withSendMark(ctx, m), gvr, ns, name)
		return err
	})
	at := m.last(began)
	if answered404(err) {
		// One application gone is no longer live; SparkApplications that
		// cannot be read at all (the CRD stopped serving the version the
		// tool reads) keep their maps.
		if uerr := appsMissingIn(ctx, c, api, err, name); uerr != nil {
			return rule.StateUnknown(uerr.Error()), at, nil
		}
		return rule.Reason{}, at, nil
	}
	if err != nil {
		return rule.Reason{}, at, err
	}
	sa := rule.ParseSparkApp(u)
	if sa.UID != uid || sa.Terminal() {
		return rule.Reason{}, at, nil
	}
	return rule.Running(nowLive(sa)), at, nil
}

// earliest is the earlier of two instants, a zero one aside.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
