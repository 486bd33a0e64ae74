package hook

import (
	"context"
	"errors"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// LastActiveEvery is how often, at most, one map's
// sparkcm-hook/last-active is stamped: the orphan bound is days, a minute
// of precision costs nothing, and a stamp per executor event would be a
// write per Pod update.
const LastActiveEvery = time.Minute

// StampLastActive records on m, an ownerless executor map of a client-mode
// application (or Spark 3.1.0/3.1.1), that the application's executors
// were seen running at at: rule.AnnotationLastActive, which the orphan
// bound counts quiet time from. Spark deletes finished executor Pods, so
// without it a session idling at zero executors shows nothing of when it
// last ran. Any other map, or one stamped less than LastActiveEvery before
// at, is left alone. The patch carries m's UID and resourceVersion: a map
// changed or replaced since it was read is not stamped (the next sighting
// stamps it). It says whether it stamped.
func StampLastActive(ctx context.Context, c Clients, log *slog.Logger, m *metav1.ObjectMeta, at time.Time) (bool, error) {
	if !rule.Ownerless(m) || rule.KindOf(m.Name) != rule.KindExecutorConf ||
		m.Labels[rule.LabelAppSelector] == "" || m.Labels[rule.LabelRole] != rule.RoleExecutor {
		return false, nil
	}
	if last := rule.LastActive(m); !last.IsZero() && at.Sub(last) < LastActiveEvery {
		return false, nil
	}
	err := c.api().AnnotateMap(ctx, m.Namespace, m.Name, m.UID, m.ResourceVersion, rule.AnnotationLastActive, at.UTC().Format(time.RFC3339))
	switch {
	// Another resourceVersion (409), another UID (422: the map was
	// recreated), or gone.
	case apierrors.IsConflict(err), apierrors.IsInvalid(err), apierrors.IsNotFound(err):
		log.Debug("map changed or gone since it was read; not stamped", "namespace", m.Namespace, "configmap", m.Name, "err", err)
		return false, nil
	case err != nil:
		return false, err
	}
	log.Debug("stamped the client-mode application's executor map as active", "namespace", m.Namespace, "configmap", m.Name, "at", at)
	return true, nil
}

// StampApp stamps the ownerless executor maps of one application
// (StampLastActive each), found by their labels: one LIST of the
// application's executor maps, as metadata, in its namespace. It returns
// how many it stamped.
func StampApp(ctx context.Context, c Clients, log *slog.Logger, ns, appID string, at time.Time) (int, error) {
	if appID == "" {
		return 0, nil
	}
	sel := labels.SelectorFromValidatedSet(labels.Set{rule.LabelAppSelector: appID, rule.LabelRole: rule.RoleExecutor})
	l, err := c.api().ListMaps(ctx, ns, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, err
	}
	stamped := 0
	var errs []error
	for i := range l.Items {
		ok, err := StampLastActive(ctx, c, log, &l.Items[i].ObjectMeta, at)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			stamped++
		}
	}
	return stamped, errors.Join(errs...)
}
