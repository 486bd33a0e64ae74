package hook

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// recordEvent leaves a summary Event on the SparkApplication, or else on the
// driver Pod, so `kubectl describe` shows what was cleaned. Failing to record
// it never fails the cleanup.
func (cl *cleaner) recordEvent(ctx context.Context, app *rule.View, res *Result) {
	var ref corev1.ObjectReference
	switch {
	case app.App != nil:
		gvr, _, _ := appResource(ctx, cl.c, cl.appGroup)
		if gvr.Group == "" {
			gvr = store.SparkApplicationGVR
		}
		ref = corev1.ObjectReference{APIVersion: gvr.GroupVersion().String(), Kind: "SparkApplication", Name: app.App.Name, UID: app.App.UID, Namespace: cl.o.Namespace}
	case app.Driver != nil:
		ref = corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Name: app.Driver.Name, UID: app.Driver.UID, Namespace: cl.o.Namespace}
	default:
		return
	}
	typ, reason := corev1.EventTypeNormal, "SparkConfigMapsCleaned"
	if len(res.Failed) > 0 {
		typ, reason = corev1.EventTypeWarning, "SparkConfigMapsCleanupFailed"
	}
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: ref.Name + ".", Namespace: cl.o.Namespace},
		InvolvedObject: ref,
		Reason:         reason,
		Message:        fmt.Sprintf("sparkcm-hook deleted %d, skipped %d, failed %d ConfigMap(s)", len(res.Deleted), len(res.Skipped), len(res.Failed)),
		Type:           typ,
		Source:         corev1.EventSource{Component: "sparkcm-hook"},
		FirstTimestamp: now,
		LastTimestamp:  now,
		Count:          1,
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cl.c.api().CreateEvent(ctx, cl.o.Namespace, ev); err != nil {
		cl.log.Warn("could not record the summary event (the cleanup itself is unaffected)", "err", err)
	}
}

// recordEvents leaves one summary Event in each namespace the sweep named
// (-n) or decided a map in, so `kubectl get events -n NS` shows what the
// sweep did there. A sweep of every namespace that decided nothing in one
// leaves nothing there. The Event is about the Namespace, recorded in it:
// sweep's Role may create Events only in the namespaces it sweeps. Failing
// to record one never fails the sweep.
func (s *sweeper) recordEvents(ctx context.Context) {
	s.mu.Lock()
	perNS := map[string]Counts{}
	for ns, c := range s.perNS {
		perNS[ns] = *c
	}
	s.mu.Unlock()
	for _, ns := range append([]string{s.o.Namespace}, s.o.Namespaces...) {
		if _, ok := perNS[ns]; !ok && ns != "" {
			perNS[ns] = Counts{}
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(perNS)) {
		if ns == "" {
			continue
		}
		c := perNS[ns]
		typ, reason := corev1.EventTypeNormal, "SparkConfigMapsSwept"
		if c.Failed > 0 {
			typ, reason = corev1.EventTypeWarning, "SparkConfigMapsSweepFailed"
		}
		now := metav1.NewTime(time.Now())
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{GenerateName: "sparkcm-hook-sweep.", Namespace: ns},
			InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Namespace", Name: ns, Namespace: ns},
			Reason:         reason,
			Message:        fmt.Sprintf("sparkcm-hook sweep deleted %d, skipped %d, failed %d ConfigMap(s)", c.Deleted, c.Skipped, c.Failed),
			Type:           typ,
			Source:         corev1.EventSource{Component: "sparkcm-hook"},
			FirstTimestamp: now,
			LastTimestamp:  now,
			Count:          1,
		}
		ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.c.api().CreateEvent(ectx, ns, ev)
		cancel()
		if err != nil {
			s.log.Warn("could not record the summary event (the sweep itself is unaffected)", "eventNamespace", ns, "err", err)
		}
	}
}
