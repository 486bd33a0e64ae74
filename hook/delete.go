package hook

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// deleter removes maps with a UID and resourceVersion precondition each,
// retrying transient failures, with bounded concurrency.
type deleter struct {
	// maps deletes through the metadata client: the API server answers a
	// DELETE with the whole object, and this client neither asks for it as
	// JSON nor decodes it, which matters with 20 KiB maps by the thousand.
	maps        metadata.Interface
	log         *slog.Logger
	retry       RetryPolicy
	concurrency int
	dryRun      bool
}

// deleteOne deletes one map and returns the entry's final decision. A 403 is
// returned as error (the run stops: every other delete would fail the same
// way); every other outcome is recorded on the entry.
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
	alreadyGone := false
	err := retry(ctx, d.log, d.retry, "delete configmap "+e.Namespace+"/"+e.Name, func(ctx context.Context) error {
		err := d.maps.Resource(configMapsGVR).Namespace(e.Namespace).Delete(ctx, e.Name, opts)
		if isNotFound(err) {
			// Deleted by someone else, or by an earlier try whose answer
			// was lost: either way the map is gone, which is the goal.
			alreadyGone = true
			return nil
		}
		return err
	})
	switch {
	case err == nil:
		e.Decision = Deleted
		if alreadyGone {
			e.Reason = "already deleted"
		}
	case isConflict(err):
		// A precondition failed: the map was replaced (new UID) or changed
		// (new resourceVersion) since it was judged. Never retry this into
		// deleting it; the next run judges it afresh.
		e.Decision = Skipped
		e.Reason = "changed since it was judged (precondition failed); a rerun judges it again"
	case apierrors.IsForbidden(err):
		return e, asForbidden(err, "delete", "", "configmaps", e.Namespace)
	default:
		e.Decision = Failed
		e.Reason = oneLineErr(err)
	}
	return e, nil
}

// deleteAll deletes the entries with at most d.concurrency in flight,
// calling done for each finished entry (in any order, never concurrently).
// It stops at the first 403 and returns it. Entries it never got to, because
// of that or because the run was cancelled or ran out of time, are reported
// as failed, "not attempted", with the cause.
func (d *deleter) deleteAll(ctx context.Context, entries []Entry, done func(Entry)) error {
	n := d.concurrency
	if n < 1 {
		n = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan Entry)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		forbidden error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				res, err := d.deleteOne(ctx, e)
				mu.Lock()
				if err != nil {
					if forbidden == nil {
						forbidden = err
						cancel()
					}
					res.Decision, res.Reason = Failed, oneLineErr(err)
				}
				done(res)
				mu.Unlock()
			}
		}()
	}
	next := 0
feed:
	for ; next < len(entries); next++ {
		select {
		case work <- entries[next]:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	// Every entry gets its record, also when the run stopped early.
	cause := forbidden
	if cause == nil {
		cause = ctx.Err()
	}
	if next < len(entries) {
		notAttempted(entries[next:], cause, done)
	}
	return forbidden
}

// oneLineErr keeps a failure's reason to one line in the ledger and table.
func oneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
