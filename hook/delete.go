package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// deleter removes maps with a UID and resourceVersion precondition each,
// retrying transient failures, with bounded concurrency.
type deleter struct {
	// api deletes through the metadata client (store.New): the API server
	// answers a DELETE with the whole object, and this client neither asks
	// for it as JSON nor decodes it, which matters with 20 KiB maps by the
	// thousand.
	api         store.Store
	log         *slog.Logger
	retry       RetryPolicy
	concurrency int
	dryRun      bool
	// recheck, when set, reads again what a delete rests on once its last
	// re-check (Entry.checkedAt) is older than bound.
	recheck recheckFunc
	bound   time.Duration

	mu      sync.Mutex
	refused map[string]error // namespace -> the 403 its first refused delete met
	order   []string
}

// deleteOne deletes one map and returns the entry's final decision. A 403 is
// returned as error (every other delete in the namespace would fail the
// same way); every other outcome is recorded on the entry.
//
// With recheck set, the delete is never sent more than bound after the
// last re-check of what it rests on (e.checkedAt): when it has waited
// longer, before a try or behind the throttle, what it rests on is read
// again, and a map now in use, or of an application live again, is kept.
func (d *deleter) deleteOne(ctx context.Context, e Entry) (Entry, error) {
	if d.dryRun {
		e.Decision = WouldDelete
		return e, nil
	}
	uid := types.UID(e.UID)
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	if e.resourceVersion != "" {
		// What is deleted is exactly what was judged: a map annotated
		// sparkcm-hook/keep, given another owner or relabelled since then
		// fails the precondition and is judged again by the next run.
		rv := e.resourceVersion
		opts.Preconditions.ResourceVersion = &rv
	}
	p := d.retry.WithDefaults()
	start := p.Clock.Now()
	stale := func() error {
		if d.recheck == nil {
			return nil
		}
		if age := p.Clock.Now().Sub(e.checkedAt); age > d.bound {
			return &staleError{age: age, bound: d.bound}
		}
		return nil
	}
	what := "delete configmap " + e.Namespace + "/" + e.Name
	alreadyGone := false
	var err error
	for slow := 0; ; {
		if stale() != nil {
			reason, at, rerr := d.recheck(ctx, e)
			if rerr != nil {
				e.Decision, e.Reason = Failed, "not deleted: the re-check before it failed: "+kube.OneLineErr(rerr)
				return e, nil
			}
			if reason.Keeps() {
				e.skip(reason)
				return e, nil
			}
			e.checkedAt = at
			if stale() != nil {
				// The re-read itself took longer than the bound: it proves
				// nothing about the moment of the delete.
				if slow++; slow == 3 {
					e.Decision, e.Reason = Failed, fmt.Sprintf("not deleted: the re-check before it took longer than %s three times; a rerun judges it again", d.bound)
					return e, nil
				}
				continue
			}
			slow = 0
		}
		// One budget for all tries, re-checks between them included.
		budget := p
		if budget.Budget -= p.Clock.Now().Sub(start); budget.Budget <= 0 {
			last := "no try was sent"
			if err != nil {
				last = kube.OneLineErr(err) // a delete held back as stale: nothing else loops
			}
			err = fmt.Errorf("%s: gave up: its retry budget of %s was spent (last: %s)", what, p.Budget, last)
			break
		}
		err = kube.Retry(ctx, d.log, budget, what, func(ctx context.Context) error {
			if err := stale(); err != nil {
				return backoff.Permanent(err)
			}
			err := d.api.DeleteMap(withSendGuard(ctx, stale), e.Namespace, e.Name, *opts.Preconditions)
			if kube.IsNotFound(err) {
				// Deleted by someone else, or by an earlier try whose answer
				// was lost: either way the map is gone, which is the goal.
				alreadyGone = true
				return nil
			}
			var se *staleError
			if errors.As(err, &se) {
				return backoff.Permanent(err)
			}
			return err
		})
		var se *staleError
		if !errors.As(err, &se) {
			break
		}
		d.log.Debug("delete waited past its re-check; reading again", "configmap", e.Name, "err", kube.OneLineErr(err))
	}
	switch {
	case err == nil:
		e.Decision = Deleted
		if alreadyGone {
			e.Reason = "already deleted"
		}
	case kube.IsConflict(err):
		// A precondition failed: the map was replaced (new UID) or changed
		// (new resourceVersion) since it was judged. Never retry this into
		// deleting it; the next run judges it afresh.
		e.skip(rule.Because(rule.KeepChanged, "changed since it was judged (precondition failed); a rerun judges it again"))
	case apierrors.IsForbidden(err):
		return e, kube.AsForbidden(err, "delete", "", "configmaps", e.Namespace)
	default:
		e.Decision = Failed
		e.Reason = kube.OneLineErr(err)
	}
	return e, nil
}

// deleteAll deletes the entries with at most d.concurrency in flight,
// calling done for each entry (in any order, never concurrently). A 403
// in a namespace is remembered (see forbidden): the namespace's other
// entries are then reported as failed, "not attempted", with that cause,
// while other namespaces go on. Entries it never got to because the run
// was cancelled or ran out of time are reported the same way.
func (d *deleter) deleteAll(ctx context.Context, entries []Entry, done func(Entry)) {
	p := d.startPool(ctx, done)
	rest := p.feed(ctx, entries)
	p.close()
	// Every entry gets its record, also when the run stopped early.
	if len(rest) > 0 {
		notAttempted(rest, ctx.Err(), done)
	}
}

// deletePool is d.concurrency workers deleting whatever is fed to them
// until it is closed. Sweep feeds it batch after batch, so that a delete
// still waiting out a Retry-After does not hold the next batch back.
type deletePool struct {
	work chan Entry
	wg   sync.WaitGroup
}

// startPool starts the workers; done gets each entry's record, never
// concurrently with another of the pool's.
func (d *deleter) startPool(ctx context.Context, done func(Entry)) *deletePool {
	p := &deletePool{work: make(chan Entry)}
	var mu sync.Mutex
	for range max(d.concurrency, 1) {
		p.wg.Go(func() {
			for e := range p.work {
				if cause := d.forbiddenIn(e.Namespace); cause != nil {
					mu.Lock()
					notAttempted([]Entry{e}, cause, done)
					mu.Unlock()
					continue
				}
				res, err := d.deleteOne(ctx, e)
				if err != nil {
					d.forbid(e.Namespace, err)
					res.Decision, res.Reason = Failed, kube.OneLineErr(err)
				}
				mu.Lock()
				done(res)
				mu.Unlock()
			}
		})
	}
	return p
}

// feed hands the entries to the workers and returns those it could not
// hand over because ctx ended.
func (p *deletePool) feed(ctx context.Context, entries []Entry) []Entry {
	for i, e := range entries {
		select {
		case p.work <- e:
		case <-ctx.Done():
			return entries[i:]
		}
	}
	return nil
}

// close waits for every entry fed to be decided.
func (p *deletePool) close() {
	close(p.work)
	p.wg.Wait()
}

// forbid remembers the first 403 in a namespace.
func (d *deleter) forbid(ns string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refused == nil {
		d.refused = map[string]error{}
	}
	if _, ok := d.refused[ns]; !ok {
		d.refused[ns] = err
		d.order = append(d.order, ns)
	}
}

func (d *deleter) forbiddenIn(ns string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused[ns]
}

// forbidden is the first 403 any delete met, or nil.
func (d *deleter) forbidden() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.order) == 0 {
		return nil
	}
	return d.refused[d.order[0]]
}
