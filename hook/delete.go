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

// deleter removes maps with a UID precondition each, retrying transient
// failures, with bounded concurrency.
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
	alreadyGone := false
	err := retry(ctx, d.log, d.retry, "delete configmap "+e.Namespace+"/"+e.Name, func(ctx context.Context) error {
		err := d.maps.Resource(configMapsGVR).Namespace(e.Namespace).Delete(ctx, e.Name, opts)
		if apierrors.IsNotFound(err) {
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
	case apierrors.IsConflict(err):
		// The UID precondition failed: the name now belongs to a new map,
		// which was never judged. Never retry this into deleting it.
		e.Decision = Skipped
		e.Reason = "replaced since it was read (UID precondition failed)"
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
// It stops at the first 403 and returns it. Entries it never got to because
// the run was cancelled or ran out of time are reported as failed.
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
				} else {
					done(res)
				}
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
	if forbidden == nil {
		for _, e := range entries[next:] {
			e.Decision = Failed
			e.Reason = "not attempted: " + ctx.Err().Error()
			done(e)
		}
	}
	return forbidden
}

// oneLineErr keeps a failure's reason to one line in the ledger and table.
func oneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
