package hook

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// appWatch follows the SparkApplications a sweep read, from the
// resourceVersion of that read, so that the re-check before each batch
// knows at once which of them left their finished state (the operator
// reruns an application whose spec was edited). It can only tell that one
// is live: a watch may lag behind what the API server already stored, so
// the re-check reads again every application it does not know live.
type appWatch struct {
	mu        sync.Mutex
	live      map[types.UID]string // uid -> why it is live now
	following bool
	stop      func()
}

// watchApps starts following the SparkApplications of ns from rv.
func (s *sweeper) watchApps(ctx context.Context, ns, rv string) *appWatch {
	aw := &appWatch{live: map[types.UID]string{}, stop: func() {}}
	if rv == "" {
		return aw
	}
	w, err := s.c.api().WatchApps(ctx, store.SparkApplicationGVR, ns, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		s.log.Debug("cannot watch SparkApplications; the re-check reads them one by one", "err", kube.OneLineErr(err))
		return aw
	}
	aw.following, aw.stop = true, w.Stop
	go aw.follow(w)
	return aw
}

func (aw *appWatch) follow(w watch.Interface) {
	defer func() {
		aw.mu.Lock()
		aw.following = false
		aw.mu.Unlock()
	}()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted:
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				return
			}
			a := rule.ParseSparkApp(u)
			aw.mu.Lock()
			if ev.Type == watch.Deleted || a.Terminal() {
				delete(aw.live, a.UID)
			} else {
				aw.live[a.UID] = nowLive(a)
			}
			aw.mu.Unlock()
		case watch.Bookmark:
		default: // an error: the watch cannot be trusted to be complete any more
			return
		}
	}
}

// liveNow says why the application with uid is live now, and whether the
// watch could tell at all.
func (aw *appWatch) liveNow(uid types.UID) (string, bool) {
	aw.mu.Lock()
	defer aw.mu.Unlock()
	if !aw.following {
		return "", false
	}
	return aw.live[uid], true
}

// nowLive is why an application that was finished when it was judged
// keeps its maps now.
func nowLive(a *rule.SparkApp) string {
	return fmt.Sprintf("SparkApplication %s is now %s", rule.Shown(a.Name), rule.StateOf(a)) // the state is shown() when parsed
}
