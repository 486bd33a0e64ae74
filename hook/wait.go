package hook

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// resyncEvery bounds how long the wait trusts a quiet watch before it reads
// the objects again (a watch can end or miss nothing and still be quiet).
const resyncEvery = 30 * time.Second

// waitFinished waits, by watching the driver Pod and the SparkApplication,
// until the application is no longer live, for at most d. Each time a watch
// reports anything, or ends (it is then reopened), the application is
// resolved again from scratch, so the decision always rests on a fresh read.
func (cl *cleaner) waitFinished(ctx context.Context, d time.Duration) (*rule.View, error) {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		app, err := cl.resolve(wctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, &StillRunningError{Namespace: cl.o.Namespace, App: cl.o.target(), State: "it did not finish within the wait of " + d.String()}
			}
			return nil, err
		}
		isLive, why := app.Live()
		if !isLive {
			return app, nil
		}
		if app.EndedAfterStop() {
			return nil, &StillRunningError{Namespace: cl.o.Namespace, App: cl.o.target(), State: why}
		}
		cl.log.Debug("still running", "reason", why)
		if err := cl.watchOnce(wctx, app); err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				return nil, &StillRunningError{Namespace: cl.o.Namespace, App: cl.o.target(), State: why + "; did not finish within the wait of " + d.String()}
			}
			return nil, err
		}
	}
}

// watchOnce blocks until the driver Pod, the SparkApplication or one of the
// application's live Pods changes, a
// watch ends, resyncEvery passes, or ctx ends. It watches from the
// resourceVersion of the objects it just read, so no change in between is
// missed.
func (cl *cleaner) watchOnce(ctx context.Context, app *rule.View) error {
	ctx, cancel := context.WithTimeout(ctx, resyncEvery)
	defer cancel()
	var watchers []watch.Interface
	defer func() {
		for _, w := range watchers {
			w.Stop()
		}
	}()
	ns := cl.o.Namespace
	if app.DriverName != "" {
		w, err := cl.watchPods(ctx, "pod "+app.DriverName, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", app.DriverName).String()})
		if kube.IsExpired(err) {
			return cl.expired(ctx, err)
		}
		if err != nil {
			return err
		}
		watchers = append(watchers, w)
	}
	if app.App != nil {
		sel := fields.OneTermEqualSelector("metadata.name", app.App.Name).String()
		gvr, _, err := appResource(ctx, cl.c, cl.appGroup)
		if err != nil {
			return err
		}
		api := cl.c.api()
		var rv string
		err = cl.call(ctx, "list sparkapplication "+app.App.Name, "list", gvr.Group, gvr.Resource, func(ctx context.Context) error {
			list, err := api.ListApps(ctx, gvr, ns, metav1.ListOptions{FieldSelector: sel})
			if err == nil {
				rv = list.GetResourceVersion()
			}
			return err
		})
		if err != nil {
			return err
		}
		var w watch.Interface
		err = cl.call(ctx, "watch sparkapplication "+app.App.Name, "watch", gvr.Group, gvr.Resource, func(ctx context.Context) error {
			var err error
			w, err = api.WatchApps(ctx, gvr, ns, metav1.ListOptions{FieldSelector: sel, ResourceVersion: rv})
			return err
		})
		if kube.IsExpired(err) {
			return cl.expired(ctx, err)
		}
		if err != nil {
			return err
		}
		watchers = append(watchers, w)
	}
	if len(app.LivePods) > 0 {
		// A client-mode application is only its Pods: wait for them.
		sel, err := appsSelector(app.SortedIDs())
		if err != nil {
			return err
		}
		w, err := cl.watchPods(ctx, "the application's pods", metav1.ListOptions{LabelSelector: sel.String(), FieldSelector: nonTerminatedPods})
		if kube.IsExpired(err) {
			return cl.expired(ctx, err)
		}
		if err != nil {
			return err
		}
		watchers = append(watchers, w)
	}
	if len(watchers) == 0 {
		<-ctx.Done()
		return nil
	}
	// A watch that ends with an error event (410 Gone once etcd compacted
	// its revision) ends like any other: the caller reads everything again.
	changed := make(chan struct{}, len(watchers))
	for _, w := range watchers {
		go func(w watch.Interface) {
			for range w.ResultChan() {
				changed <- struct{}{}
				return
			}
			changed <- struct{}{} // the watch ended: resolve and reopen
		}(w)
	}
	select {
	case <-changed:
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil // resync, unless the caller's own deadline passed
		}
		return ctx.Err()
	}
}

// watchPods watches the Pods opts selects from the resourceVersion of a
// list made just before, so that no change in between is missed.
func (cl *cleaner) watchPods(ctx context.Context, what string, opts metav1.ListOptions) (watch.Interface, error) {
	api, ns := cl.c.api(), cl.o.Namespace
	var list *corev1.PodList
	err := cl.call(ctx, "list "+what, "list", "", "pods", func(ctx context.Context) error {
		var err error
		list, err = api.ListPods(ctx, ns, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	opts.ResourceVersion = list.ResourceVersion
	var w watch.Interface
	err = cl.call(ctx, "watch "+what, "watch", "", "pods", func(ctx context.Context) error {
		var err error
		w, err = api.WatchPods(ctx, ns, opts)
		return err
	})
	return w, err
}

// expired handles a watch the API server refused because the
// resourceVersion it starts from is gone (410: compacted, or no longer in
// the watch cache): nothing is wrong with the application, so the wait goes
// on from a fresh read, after a pause so that a server that keeps refusing
// is not asked in a tight loop.
func (cl *cleaner) expired(ctx context.Context, err error) error {
	cl.log.Info("watch expired; reading the application again", "err", kube.OneLineErr(err))
	if serr := kube.SleepCtx(ctx, time.Second); serr != nil && errors.Is(serr, context.Canceled) {
		return serr
	}
	return nil
}
