// Package storetest is the one contract suite every store.Store passes:
// the in-memory store in the unit tier and the store over the real API
// server, so the memory store keeps the semantics the rule relies on.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// Seeder writes what the suite reads through the Store, the way other
// clients of the cluster would.
type Seeder interface {
	CreateNamespace(ctx context.Context, name string) error
	CreateMap(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error)
	UpdateMap(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error)
	CreatePod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error)
	UpdatePodStatus(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error)
	DeletePod(ctx context.Context, ns, name string) error
	CreateApp(ctx context.Context, app *unstructured.Unstructured) (*unstructured.Unstructured, error)
	// Compact forgets every revision before now, as etcd's compaction:
	// continue tokens and watches from before it must answer 410.
	Compact(ctx context.Context) error
}

// New returns a Store and the Seeder writing into what it reads.
type New func(t *testing.T) (store.Store, Seeder)

var nsCount int

// RunContract runs every semantic the rule relies on against newStore.
func RunContract(t *testing.T, newStore New) {
	for _, c := range []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string)
	}{
		{"GetAndDeleteOfAMissingMapAnswer404NotFound", missingMap},
		{"DeleteWithAStaleUIDAnswers409AndKeepsTheMap", staleUID},
		{"DeleteWithAStaleResourceVersionAnswers409AndKeepsTheMap", staleResourceVersion},
		{"DeleteWithMatchingPreconditionsDeletes", matchingPreconditions},
		{"ResourceVersionsGrowWithEveryWrite", versionsGrow},
		{"SetMapOwnersWritesOnlyWhatWasJudged", setOwners},
		{"PagedListReadsOneConsistentSnapshot", pagedSnapshot},
		{"ContinueTokenFromBeforeACompactionAnswers410Expired", continueExpires},
		{"FullMapListCarriesTheDataPageByPage", fullMaps},
		{"LabelAndFieldSelectorsSelect", selectors},
		{"UnsupportedFieldSelectorIsRefused400", badFieldSelector},
		{"PodWatchFromAResourceVersionSeesAddedModifiedDeleted", watchPods},
		{"FieldSelectedWatchDeletesAPodThatLeavesTheSelection", watchLeaves},
		{"WatchFromACompactedResourceVersionAnswers410", watchExpired},
		{"AppsAreListedGotAndWatched", apps},
		{"EventsAreCreated", events},
		{"DiscoveryServesTheSparkApplicationVersion", discovery},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, seed := newStore(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			nsCount++
			ns := fmt.Sprintf("contract-%d-%d", time.Now().UnixNano()%100000, nsCount)
			if err := seed.CreateNamespace(ctx, ns); err != nil {
				t.Fatal(err)
			}
			c.run(t, ctx, s, seed, ns)
		})
	}
}

func mapNamed(t *testing.T, ctx context.Context, seed Seeder, ns, name string, labels map[string]string) *corev1.ConfigMap {
	t.Helper()
	cm, err := seed.CreateMap(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Data: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if cm.UID == "" || cm.ResourceVersion == "" {
		t.Fatalf("created map has UID %q resourceVersion %q", cm.UID, cm.ResourceVersion)
	}
	return cm
}

// wantStatus checks err is the API server's Status error with code and
// reason, recognised by type as the tool does.
func wantStatus(t *testing.T, what string, err error, code int32, reason metav1.StatusReason) *apierrors.StatusError {
	t.Helper()
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got %v (%T), want a Status error %d %s", what, err, err, code, reason)
	}
	if se.ErrStatus.Code != code || se.ErrStatus.Reason != reason {
		t.Fatalf("%s: got Status %d %s (%s), want %d %s", what, se.ErrStatus.Code, se.ErrStatus.Reason, se.ErrStatus.Message, code, reason)
	}
	return se
}

func ptr[T any](v T) *T { return &v }

func missingMap(t *testing.T, ctx context.Context, s store.Store, _ Seeder, ns string) {
	_, err := s.GetMap(ctx, ns, "absent")
	se := wantStatus(t, "get", err, http.StatusNotFound, metav1.StatusReasonNotFound)
	if !apierrors.IsNotFound(err) || se.ErrStatus.Details == nil || se.ErrStatus.Details.Name != "absent" || se.ErrStatus.Details.Kind != "configmaps" {
		t.Fatalf("get: details %+v, want name absent kind configmaps", se.ErrStatus.Details)
	}
	err = s.DeleteMap(ctx, ns, "absent", metav1.Preconditions{UID: ptr(types.UID("x"))})
	_ = wantStatus(t, "delete", err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func setOwners(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	pod, err := seed.CreatePod(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}})
	if err != nil {
		t.Fatal(err)
	}
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}
	cm := mapNamed(t, ctx, seed, ns, "m", nil)
	err = s.SetMapOwners(ctx, ns, "absent", cm.UID, cm.ResourceVersion, []metav1.OwnerReference{owner})
	_ = wantStatus(t, "absent", err, http.StatusNotFound, metav1.StatusReasonNotFound)
	err = s.SetMapOwners(ctx, ns, "m", types.UID("6b1f7bb0-0000-0000-0000-000000000000"), cm.ResourceVersion, []metav1.OwnerReference{owner})
	_ = wantStatus(t, "stale UID", err, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	changed := cm.DeepCopy()
	changed.Labels = map[string]string{"edited": "yes"}
	if _, err := seed.UpdateMap(ctx, changed); err != nil {
		t.Fatal(err)
	}
	err = s.SetMapOwners(ctx, ns, "m", cm.UID, cm.ResourceVersion, []metav1.OwnerReference{owner})
	_ = wantStatus(t, "stale resourceVersion", err, http.StatusConflict, metav1.StatusReasonConflict)
	got, err := s.GetMap(ctx, ns, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.OwnerReferences) != 0 {
		t.Fatalf("a refused write set owners %v", got.OwnerReferences)
	}
	if err := s.SetMapOwners(ctx, ns, "m", got.UID, got.ResourceVersion, []metav1.OwnerReference{owner}); err != nil {
		t.Fatal(err)
	}
	after, err := s.GetMap(ctx, ns, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(after.OwnerReferences) != 1 || after.OwnerReferences[0].UID != pod.UID || after.ResourceVersion == got.ResourceVersion {
		t.Fatalf("owners %v at resourceVersion %s (was %s), want the Pod at a new one", after.OwnerReferences, after.ResourceVersion, got.ResourceVersion)
	}
	if after.Labels["edited"] != "yes" {
		t.Fatalf("setting owners changed the labels: %v", after.Labels)
	}
}

func stillThere(t *testing.T, ctx context.Context, s store.Store, cm *corev1.ConfigMap) {
	t.Helper()
	got, err := s.GetMap(ctx, cm.Namespace, cm.Name)
	if err != nil || got.UID != cm.UID {
		t.Fatalf("the map is gone after a refused delete: %v", err)
	}
}

func staleUID(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	cm := mapNamed(t, ctx, seed, ns, "m", nil)
	err := s.DeleteMap(ctx, ns, "m", metav1.Preconditions{UID: ptr(types.UID("6b1f7bb0-0000-0000-0000-000000000000")), ResourceVersion: ptr(cm.ResourceVersion)})
	se := wantStatus(t, "delete", err, http.StatusConflict, metav1.StatusReasonConflict)
	if !apierrors.IsConflict(err) || !strings.Contains(se.ErrStatus.Message, "the UID in the precondition") {
		t.Fatalf("delete: %q, want a UID precondition failure", se.ErrStatus.Message)
	}
	stillThere(t, ctx, s, cm)
}

func staleResourceVersion(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	cm := mapNamed(t, ctx, seed, ns, "m", nil)
	judged := cm.ResourceVersion
	cm.Annotations = map[string]string{"sparkcm-hook/keep": "true"}
	cm, err := seed.UpdateMap(ctx, cm)
	if err != nil {
		t.Fatal(err)
	}
	err = s.DeleteMap(ctx, ns, "m", metav1.Preconditions{UID: ptr(cm.UID), ResourceVersion: ptr(judged)})
	se := wantStatus(t, "delete", err, http.StatusConflict, metav1.StatusReasonConflict)
	if !strings.Contains(se.ErrStatus.Message, "the ResourceVersion in the precondition") {
		t.Fatalf("delete: %q, want a resourceVersion precondition failure", se.ErrStatus.Message)
	}
	stillThere(t, ctx, s, cm)
}

func matchingPreconditions(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	cm := mapNamed(t, ctx, seed, ns, "m", nil)
	if err := s.DeleteMap(ctx, ns, "m", metav1.Preconditions{UID: ptr(cm.UID), ResourceVersion: ptr(cm.ResourceVersion)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := s.GetMap(ctx, ns, "m")
	_ = wantStatus(t, "get after delete", err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func versionsGrow(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	a := mapNamed(t, ctx, seed, ns, "a", nil)
	b := mapNamed(t, ctx, seed, ns, "b", nil)
	if a.UID == b.UID {
		t.Fatal("two maps share a UID")
	}
	b.Data = map[string]string{"k": "w"}
	b2, err := seed.UpdateMap(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if b2.UID != b.UID || b2.ResourceVersion == b.ResourceVersion {
		t.Fatalf("update kept resourceVersion %s (UID %s -> %s)", b.ResourceVersion, b.UID, b2.UID)
	}
	list, err := s.ListMaps(ctx, ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if list.ResourceVersion == "" {
		t.Fatal("a list carries no resourceVersion to watch from")
	}
}

func fullMaps(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	for i := range 3 {
		mapNamed(t, ctx, seed, ns, fmt.Sprintf("m%d", i), nil)
	}
	opts := metav1.ListOptions{Limit: 2}
	var got []string
	for pages := 0; ; pages++ {
		page, err := s.ListMapsFull(ctx, ns, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 2 {
			t.Fatalf("a page of %d maps, limit 2", len(page.Items))
		}
		for _, u := range page.Items {
			if v, _, _ := unstructured.NestedString(u.Object, "data", "k"); v != "v" {
				t.Fatalf("%s: data %v, want k=v", u.GetName(), u.Object["data"])
			}
			got = append(got, u.GetName())
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			break
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "m0,m1,m2" {
		t.Fatalf("listed %v, want m0, m1, m2", got)
	}
}

func pagedSnapshot(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	sel := map[string]string{"contract": "page"}
	var want []string
	for i := range 5 {
		want = append(want, mapNamed(t, ctx, seed, ns, fmt.Sprintf("m%d", i), sel).Name)
	}
	opts := metav1.ListOptions{LabelSelector: "contract=page", Limit: 2}
	first, err := s.ListMaps(ctx, ns, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Continue == "" || len(first.Items) > 2 {
		t.Fatalf("first page: %d items, continue %q: want at most 2 and a continue token", len(first.Items), first.Continue)
	}
	// Written after the first page: a consistent list does not see it.
	mapNamed(t, ctx, seed, ns, "m9", sel)
	got := names(first.Items)
	for cont := first.Continue; cont != ""; {
		opts.Continue = cont
		page, err := s.ListMaps(ctx, ns, opts)
		if err != nil {
			t.Fatalf("next page: %v", err)
		}
		if len(page.Items) > 2 {
			t.Fatalf("a page of %d items, limit 2", len(page.Items))
		}
		got = append(got, names(page.Items)...)
		cont = page.Continue
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages hold %v, want %v", got, want)
	}
}

func names(items []metav1.PartialObjectMetadata) []string {
	var out []string
	for _, m := range items {
		out = append(out, m.Name)
	}
	return out
}

func continueExpires(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	for i := range 3 {
		mapNamed(t, ctx, seed, ns, fmt.Sprintf("m%d", i), nil)
	}
	first, err := s.ListMaps(ctx, ns, metav1.ListOptions{Limit: 1})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: continue %q, %v", first.Continue, err)
	}
	// A write after the list's revision, so compaction passes it.
	mapNamed(t, ctx, seed, ns, "after", nil)
	if err := seed.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = s.ListMaps(ctx, ns, metav1.ListOptions{Limit: 1, Continue: first.Continue})
	_ = wantStatus(t, "continue after compaction", err, http.StatusGone, metav1.StatusReasonExpired)
	if !apierrors.IsResourceExpired(err) {
		t.Fatalf("IsResourceExpired(%v) is false", err)
	}
}

func podIn(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
}

func setPhase(t *testing.T, ctx context.Context, seed Seeder, pod *corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	pod = pod.DeepCopy()
	pod.Status.Phase = phase
	out, err := seed.UpdatePodStatus(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func selectors(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	mapNamed(t, ctx, seed, ns, "spark", map[string]string{"spark-app-selector": "spark-1"})
	mapNamed(t, ctx, seed, ns, "user", map[string]string{"app": "user"})
	list, err := s.ListMaps(ctx, ns, metav1.ListOptions{LabelSelector: "spark-app-selector=spark-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(list.Items); len(got) != 1 || got[0] != "spark" {
		t.Fatalf("label selector: %v, want [spark]", got)
	}
	for _, p := range []struct {
		name  string
		phase corev1.PodPhase
	}{{"running", corev1.PodRunning}, {"done", corev1.PodSucceeded}, {"failed", corev1.PodFailed}, {"pending", corev1.PodPending}} {
		pod, err := seed.CreatePod(ctx, podIn(ns, p.name, map[string]string{"spark-role": "driver"}))
		if err != nil {
			t.Fatal(err)
		}
		if p.phase != corev1.PodPending {
			setPhase(t, ctx, seed, pod, p.phase)
		}
	}
	pods, err := s.ListPods(ctx, ns, metav1.ListOptions{LabelSelector: "spark-role=driver", FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods.Items {
		got = append(got, p.Name)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "pending,running" {
		t.Fatalf("non-terminated pods: %v, want [pending running]", got)
	}
	pods, err = s.ListPods(ctx, ns, metav1.ListOptions{FieldSelector: "metadata.name=done"})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod by name: %v, %v", pods, err)
	}
	pod, err := s.GetPod(ctx, ns, "running")
	if err != nil || pod.Status.Phase != corev1.PodRunning {
		t.Fatalf("get pod: %v, %v", pod, err)
	}
	_, err = s.GetPod(ctx, ns, "absent")
	_ = wantStatus(t, "get absent pod", err, http.StatusNotFound, metav1.StatusReasonNotFound)
}

func badFieldSelector(t *testing.T, ctx context.Context, s store.Store, _ Seeder, ns string) {
	_, err := s.ListMaps(ctx, ns, metav1.ListOptions{FieldSelector: "data.k=v"})
	_ = wantStatus(t, "list maps by a data field", err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
	_, err = s.ListApps(ctx, store.SparkApplicationGVR, ns, metav1.ListOptions{FieldSelector: "status.applicationState.state=COMPLETED"})
	_ = wantStatus(t, "list apps by a status field", err, http.StatusBadRequest, metav1.StatusReasonBadRequest)
}

// next reads the watch's next event, failing the test when none comes
// within the context (never a timed assertion: a missing event fails
// only when the whole test would hang).
func next(t *testing.T, ctx context.Context, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-ctx.Done():
		t.Fatal("no event before the test's deadline")
	}
	return watch.Event{}
}

func wantPodEvent(t *testing.T, ctx context.Context, w watch.Interface, typ watch.EventType, name string, phase corev1.PodPhase) {
	t.Helper()
	ev := next(t, ctx, w)
	pod, ok := ev.Object.(*corev1.Pod)
	if !ok {
		t.Fatalf("event %s %T, want %s of pod %s", ev.Type, ev.Object, typ, name)
	}
	if ev.Type != typ || pod.Name != name || pod.Status.Phase != phase {
		t.Fatalf("event %s of pod %s in phase %q, want %s of pod %s in phase %q", ev.Type, pod.Name, pod.Status.Phase, typ, name, phase)
	}
	if pod.ResourceVersion == "" {
		t.Fatal("a watched pod has no resourceVersion")
	}
}

func watchPods(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	list, err := s.ListPods(ctx, ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Written before the watch opens: replayed from the list's revision.
	pod, err := seed.CreatePod(ctx, podIn(ns, "driver", nil))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.WatchPods(ctx, ns, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	wantPodEvent(t, ctx, w, watch.Added, "driver", corev1.PodPending)
	setPhase(t, ctx, seed, pod, corev1.PodSucceeded)
	wantPodEvent(t, ctx, w, watch.Modified, "driver", corev1.PodSucceeded)
	if err := seed.DeletePod(ctx, ns, "driver"); err != nil {
		t.Fatal(err)
	}
	// The API server may first mark the Pod deleting (MODIFIED with a
	// deletionTimestamp), then remove it.
	ev := next(t, ctx, w)
	for pod, ok := ev.Object.(*corev1.Pod); ev.Type == watch.Modified && ok && pod.DeletionTimestamp != nil; pod, ok = ev.Object.(*corev1.Pod) {
		ev = next(t, ctx, w)
	}
	if pod, ok := ev.Object.(*corev1.Pod); ev.Type != watch.Deleted || !ok || pod.Name != "driver" {
		t.Fatalf("event %s %T, want DELETED of pod driver", ev.Type, ev.Object)
	}
}

func watchLeaves(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	list, err := s.ListPods(ctx, ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.WatchPods(ctx, ns, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	pod, err := seed.CreatePod(ctx, podIn(ns, "executor", nil))
	if err != nil {
		t.Fatal(err)
	}
	wantPodEvent(t, ctx, w, watch.Added, "executor", corev1.PodPending)
	setPhase(t, ctx, seed, pod, corev1.PodFailed)
	// Sent as the Pod last matched the selection.
	wantPodEvent(t, ctx, w, watch.Deleted, "executor", corev1.PodPending)
}

func watchExpired(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	list, err := s.ListPods(ctx, ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		mapNamed(t, ctx, seed, ns, fmt.Sprintf("m%d", i), nil)
	}
	if err := seed.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	w, err := s.WatchPods(ctx, ns, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err == nil {
		// The API server answers the watch, then ends it with the error.
		defer w.Stop()
		ev := next(t, ctx, w)
		st, ok := ev.Object.(*metav1.Status)
		if ev.Type != watch.Error || !ok {
			t.Fatalf("event %s %T, want an error event", ev.Type, ev.Object)
		}
		err = apierrors.FromObject(st)
	}
	_ = wantStatus(t, "watch from a compacted revision", err, http.StatusGone, metav1.StatusReasonExpired)
}

func appIn(ns, name, state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": store.SparkApplicationGVR.GroupVersion().String(), "kind": "SparkApplication",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{"type": "Scala", "mode": "cluster", "sparkVersion": "4.0.0", "mainApplicationFile": "local:///x.jar",
			"driver": map[string]any{}, "executor": map[string]any{}},
	}}
	if state != "" {
		u.Object["status"] = map[string]any{"applicationState": map[string]any{"state": state}}
	}
	return u
}

func apps(t *testing.T, ctx context.Context, s store.Store, seed Seeder, ns string) {
	list, err := s.ListApps(ctx, store.SparkApplicationGVR, ns, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.WatchApps(ctx, store.SparkApplicationGVR, ns, metav1.ListOptions{ResourceVersion: list.GetResourceVersion(), FieldSelector: "metadata.name=pi"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, name := range []string{"other", "pi"} {
		if _, err := seed.CreateApp(ctx, appIn(ns, name, "")); err != nil {
			t.Fatal(err)
		}
	}
	ev := next(t, ctx, w)
	if u, ok := ev.Object.(*unstructured.Unstructured); ev.Type != watch.Added || !ok || u.GetName() != "pi" {
		t.Fatalf("event %s %T, want ADDED of pi only", ev.Type, ev.Object)
	}
	got, err := s.GetApp(ctx, store.SparkApplicationGVR, ns, "pi")
	if err != nil || got.GetUID() == "" {
		t.Fatalf("get app: %v, %v", got, err)
	}
	sel, err := s.ListApps(ctx, store.SparkApplicationGVR, ns, metav1.ListOptions{FieldSelector: "metadata.name=pi"})
	if err != nil || len(sel.Items) != 1 {
		t.Fatalf("apps by name: %v, %v", sel, err)
	}
	_, err = s.GetApp(ctx, store.SparkApplicationGVR, ns, "absent")
	se := wantStatus(t, "get absent app", err, http.StatusNotFound, metav1.StatusReasonNotFound)
	if se.ErrStatus.Details == nil || se.ErrStatus.Details.Group != store.SparkApplicationGVR.Group {
		t.Fatalf("details %+v, want the group %s", se.ErrStatus.Details, store.SparkApplicationGVR.Group)
	}
}

func events(t *testing.T, ctx context.Context, s store.Store, _ Seeder, ns string) {
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{GenerateName: "sparkcm-hook-", Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "driver"},
		Reason:         "ConfigMapsDeleted", Message: "deleted 2", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "sparkcm-hook"}}
	got, err := s.CreateEvent(ctx, ns, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name == "" || got.UID == "" || got.Reason != "ConfigMapsDeleted" {
		t.Fatalf("created event %+v", got.ObjectMeta)
	}
}

func discovery(t *testing.T, ctx context.Context, s store.Store, _ Seeder, _ string) {
	groups, err := s.ServerGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups {
		if g.Name != store.SparkApplicationGVR.Group {
			continue
		}
		for _, v := range g.Versions {
			if v.Version == store.SparkApplicationGVR.Version {
				return
			}
		}
	}
	t.Fatalf("discovery does not serve %s: %+v", store.SparkApplicationGVR.GroupVersion(), groups.Groups)
}
