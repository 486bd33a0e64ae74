package memstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// watcher is one open watch. Writes are queued without bound, so a slow
// reader never holds a writer (the store's lock) back.
type watcher struct {
	ns     string
	gvr    schema.GroupVersionResource
	match  func(*unstructured.Unstructured) bool
	conv   func(*unstructured.Unstructured) (runtime.Object, error)
	mu     sync.Mutex
	queue  []watch.Event
	wake   chan struct{}
	result chan watch.Event
	stop   chan struct{}
	once   sync.Once
	s      *Store
}

func (w *watcher) ResultChan() <-chan watch.Event { return w.result }

func (w *watcher) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.s.mu.Lock()
		delete(w.s.watchers, w)
		w.s.mu.Unlock()
	})
}

// offer queues what ev means to this watch: with a selector, an object
// that stops matching is DELETED and one that starts matching ADDED.
// s.mu is held.
func (w *watcher) offer(ev event) {
	if ev.gvr != w.gvr || (w.ns != "" && ev.obj.GetNamespace() != w.ns) {
		return
	}
	now := w.match(ev.obj)
	was := ev.old != nil && w.match(ev.old)
	typ, obj := ev.typ, ev.obj
	switch ev.typ {
	case watch.Added, watch.Deleted:
		if !now {
			return
		}
	case watch.Modified:
		switch {
		case now && !was:
			typ = watch.Added
		case !now && was:
			// The API server sends the object as it last matched.
			typ, obj = watch.Deleted, ev.old
		case !now:
			return
		}
	}
	out, err := w.conv(obj.DeepCopy())
	if err != nil {
		typ, out = watch.Error, &apierrors.NewInternalError(err).ErrStatus
	}
	w.push(watch.Event{Type: typ, Object: out})
}

func (w *watcher) push(ev watch.Event) {
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pump hands the queue to the reader until the watch is stopped or ctx
// ends; closeAfter ends it once the queue is empty (the 410 answer).
func (w *watcher) pump(ctx context.Context, closeAfter bool) {
	defer close(w.result)
	defer w.Stop()
	for {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, ev := range q {
			select {
			case w.result <- ev:
			case <-w.stop:
				return
			case <-ctx.Done():
				return
			}
		}
		if closeAfter && len(q) == 0 {
			return
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// watch opens a watch from opts.ResourceVersion: "" or "0" starts with
// every current object as ADDED; a revision replays what came after it,
// or, when it was compacted away, ends with one 410 Expired error event,
// as the API server's watch of etcd does.
func (s *Store) watch(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions, conv func(*unstructured.Unstructured) (runtime.Object, error)) (watch.Interface, error) {
	match, err := selector(gvr, opts)
	if err != nil {
		return nil, err
	}
	var from int64
	if rv := opts.ResourceVersion; rv != "" && rv != "0" {
		if from, err = strconv.ParseInt(rv, 10, 64); err != nil || from < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", rv))
		}
	}
	w := &watcher{ns: ns, gvr: gvr, match: match, conv: conv, wake: make(chan struct{}, 1), result: make(chan watch.Event), stop: make(chan struct{}), s: s}
	s.mu.Lock()
	if err := s.served(gvr); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if from > 0 && from < s.compacted {
		s.mu.Unlock()
		st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, s.compacted)).ErrStatus
		w.push(watch.Event{Type: watch.Error, Object: &st})
		go w.pump(ctx, true)
		return w, nil
	}
	if from == 0 {
		var now []*unstructured.Unstructured
		for _, u := range s.objs[gvr] {
			now = append(now, u)
		}
		sort.Slice(now, func(i, j int) bool {
			return key(now[i].GetNamespace(), now[i].GetName()) < key(now[j].GetNamespace(), now[j].GetName())
		})
		for _, u := range now {
			w.offer(event{gvr: gvr, typ: watch.Added, obj: u})
		}
	} else {
		for _, ev := range s.history {
			if ev.rv > from {
				w.offer(ev)
			}
		}
	}
	s.watchers[w] = struct{}{}
	s.mu.Unlock()
	go w.pump(ctx, false)
	return w, nil
}
