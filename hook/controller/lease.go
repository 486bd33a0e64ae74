package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// Defaults of Elector, as client-go's leader election and
// kube-controller-manager use them.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	DefaultLeaseName     = "sparkcm-hook-controller"
)

// ErrLostLease is returned by Elector.Run when this replica stopped
// leading because it could not renew its Lease in time.
var ErrLostLease = errors.New("lost the leader Lease: could not renew it in time")

// Elector elects one leader among the controller's replicas with a
// coordination.k8s.io/v1 Lease, as client-go's leader election does
// (which this binary cannot link: its resource locks import the
// clientset). A replica leads only while its Lease is fresh: it stops
// leading (and Run returns ErrLostLease) when it could not renew the Lease
// for RenewDeadline, shorter than LeaseDuration, the time the others
// wait, on their own clocks, after they last saw the Lease change before
// they take it. Another replica therefore starts only after this one
// stopped, as far as the clocks' rates agree.
type Elector struct {
	Leases    kube.LeaseInterface
	Namespace string
	Name      string
	// Identity names this replica in the Lease (the Pod's name).
	Identity                                  string
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// KeepOnStop: when ctx ends, leave the Lease to expire instead of
	// releasing it (tests of a replica that dies).
	KeepOnStop bool
	Log        *slog.Logger

	observed     *coordinationv1.LeaseSpec
	observedRV   string
	observedTime time.Time
}

func (e *Elector) defaults() {
	if e.LeaseDuration <= 0 {
		e.LeaseDuration = DefaultLeaseDuration
	}
	if e.RenewDeadline <= 0 {
		e.RenewDeadline = DefaultRenewDeadline
	}
	if e.RetryPeriod <= 0 {
		e.RetryPeriod = DefaultRetryPeriod
	}
	if e.Name == "" {
		e.Name = DefaultLeaseName
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the elector's settings.
func (e *Elector) Validate() error {
	e.defaults()
	switch {
	case e.Identity == "":
		return fmt.Errorf("leader election needs an identity")
	case e.RenewDeadline >= e.LeaseDuration:
		return fmt.Errorf("the renew deadline (%s) must be shorter than the lease duration (%s)", e.RenewDeadline, e.LeaseDuration)
	case e.RetryPeriod >= e.RenewDeadline:
		return fmt.Errorf("the retry period (%s) must be shorter than the renew deadline (%s)", e.RetryPeriod, e.RenewDeadline)
	}
	return nil
}

// Run waits until this replica holds the Lease, runs lead with a context
// that ends when it stops leading, and returns once lead has returned:
// nil when ctx ended (the Lease is then released, unless KeepOnStop),
// ErrLostLease when the Lease could not be renewed.
func (e *Elector) Run(ctx context.Context, lead func(context.Context)) error {
	if err := e.Validate(); err != nil {
		return err
	}
	log := e.Log.With("lease", e.Namespace+"/"+e.Name, "identity", e.Identity)
	log.Info("waiting to lead")
	for !e.tryAcquireOrRenew(ctx, log) {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(e.RetryPeriod):
		}
	}
	log.Info("leading")
	leadCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); lead(leadCtx) }()
	lost := e.renew(leadCtx, log)
	stop()
	<-done // nothing is deleted by this replica after this
	if lost {
		log.Warn("stopped leading: could not renew the Lease in time")
		return ErrLostLease
	}
	if !e.KeepOnStop {
		e.release(log)
	}
	return nil
}

// renew renews the Lease every RetryPeriod until ctx ends (false) or a
// renewal did not succeed within RenewDeadline (true).
func (e *Elector) renew(ctx context.Context, log *slog.Logger) bool {
	last := time.Now()
	t := time.NewTicker(e.RetryPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		if e.tryAcquireOrRenew(ctx, log) {
			last = time.Now()
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		if h := ptr.Deref(e.observed.HolderIdentity, ""); h != "" && h != e.Identity {
			return true // taken by another replica: stop at once
		}
		if time.Since(last) >= e.RenewDeadline {
			return true
		}
	}
}

// tryAcquireOrRenew takes or renews the Lease when it is free, expired
// (unchanged for LeaseDuration on this replica's clock) or this replica's.
// Every write carries the resourceVersion read: of two replicas racing,
// one wins.
func (e *Elector) tryAcquireOrRenew(ctx context.Context, log *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(ctx, e.RenewDeadline)
	defer cancel()
	now := metav1.NewMicroTime(time.Now())
	mine := coordinationv1.LeaseSpec{
		HolderIdentity:       ptr.To(e.Identity),
		LeaseDurationSeconds: ptr.To(int32(e.LeaseDuration / time.Second)),
		AcquireTime:          &now,
		RenewTime:            &now,
	}
	leases := e.Leases
	lease, err := leases.Get(ctx, e.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: e.Name, Namespace: e.Namespace}, Spec: mine}
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{})
		if err != nil {
			log.Debug("could not create the Lease", "err", err)
			return false
		}
		e.observe(created)
		return true
	}
	if err != nil {
		log.Debug("could not read the Lease", "err", err)
		return false
	}
	if lease.ResourceVersion != e.observedRV {
		e.observe(lease)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder != "" && holder != e.Identity && time.Since(e.observedTime) < e.heldFor(lease) {
		return false // another replica's, and fresh
	}
	if holder == e.Identity {
		mine.AcquireTime = lease.Spec.AcquireTime
		mine.LeaseTransitions = lease.Spec.LeaseTransitions
	} else {
		mine.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
	}
	lease.Spec = mine
	updated, err := leases.Update(ctx, lease, metav1.UpdateOptions{})
	if err != nil {
		log.Debug("could not take or renew the Lease", "err", err)
		return false
	}
	e.observe(updated)
	return true
}

// heldFor is how long a Lease, once seen to change, holds.
func (e *Elector) heldFor(l *coordinationv1.Lease) time.Duration {
	if s := ptr.Deref(l.Spec.LeaseDurationSeconds, 0); s > 0 {
		return time.Duration(s) * time.Second
	}
	return e.LeaseDuration
}

func (e *Elector) observe(l *coordinationv1.Lease) {
	e.observed, e.observedRV, e.observedTime = &l.Spec, l.ResourceVersion, time.Now()
}

// release gives the Lease up, so that another replica takes it at once
// rather than after LeaseDuration.
func (e *Elector) release(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), e.RenewDeadline)
	defer cancel()
	lease, err := e.Leases.Get(ctx, e.Name, metav1.GetOptions{})
	if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") != e.Identity {
		return
	}
	now := metav1.NewMicroTime(time.Now())
	lease.Spec.HolderIdentity = nil
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(1))
	lease.Spec.RenewTime = &now
	if _, err := e.Leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		log.Info("could not release the Lease; the next leader waits for it to expire", "err", err)
		return
	}
	log.Info("released the Lease")
}
