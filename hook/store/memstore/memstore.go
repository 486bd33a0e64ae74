// Package memstore is an in-memory store.Store for the unit tier. It keeps
// the API server's semantics the tool's rule relies on, and that package
// storetest checks against the real API server with the same suite:
//
//   - every write gets a new UID (create) and a monotonically increasing
//     resourceVersion, one counter for all resources as etcd's revision;
//   - a DELETE whose UID or resourceVersion precondition no longer holds
//     answers 409 Conflict, a missing object 404 NotFound, both as
//     *apierrors.StatusError with the API server's reason and details;
//   - a list with a limit answers pages from one consistent snapshot and a
//     continue token; Compact forgets every revision before now, as etcd's
//     compaction does, so an older continue token answers 410 Expired and
//     a watch from an older resourceVersion ends with a 410 error event;
//   - label selectors, and the field selectors the API server supports
//     for each resource (metadata.name, metadata.namespace, and a Pod's
//     status.phase); any other field is refused with 400, as there;
//   - a watch from a resourceVersion replays what happened after it, then
//     follows; with a field selector an object leaving the selection is
//     DELETED and one entering it ADDED, as the API server's watch does.
package memstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

var (
	podsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	eventsGVR = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

// event is one write, kept for watches from a resourceVersion.
type event struct {
	gvr      schema.GroupVersionResource
	typ      watch.EventType
	obj, old *unstructured.Unstructured // old: before a MODIFIED
	rv       int64
}

// snapshot is what a paged list reads, fixed at its first page.
type snapshot struct {
	rv    int64
	items []*unstructured.Unstructured
}

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	mu        sync.Mutex
	rv        int64 // the last revision written
	compacted int64 // revisions before this are forgotten
	objs      map[schema.GroupVersionResource]map[string]*unstructured.Unstructured
	kinds     map[schema.GroupVersionResource]string
	history   []event
	snapshots map[int64]snapshot // by token id
	nextSnap  int64
	watchers  map[*watcher]struct{}
}

var _ store.Store = (*Store)(nil)

// New returns an empty store serving the core resources the tool reads and
// the given custom resources (by default the SparkApplication), as if
// their CRDs were installed.
func New(custom ...schema.GroupVersionResource) *Store {
	if len(custom) == 0 {
		custom = []schema.GroupVersionResource{store.SparkApplicationGVR}
	}
	s := &Store{
		objs:      map[schema.GroupVersionResource]map[string]*unstructured.Unstructured{},
		snapshots: map[int64]snapshot{},
		watchers:  map[*watcher]struct{}{},
		kinds: map[schema.GroupVersionResource]string{
			store.ConfigMapsGVR: "ConfigMap", store.NamespacesGVR: "Namespace", podsGVR: "Pod", eventsGVR: "Event",
		},
	}
	for _, g := range custom {
		s.kinds[g] = "SparkApplication"
	}
	for g := range s.kinds {
		s.objs[g] = map[string]*unstructured.Unstructured{}
	}
	return s
}

func key(ns, name string) string { return ns + "/" + name }

func groupResource(gvr schema.GroupVersionResource) schema.GroupResource { return gvr.GroupResource() }

// served refuses a resource no CRD installed, with the API server's 404.
func (s *Store) served(gvr schema.GroupVersionResource) error {
	if _, ok := s.objs[gvr]; !ok {
		return apierrors.NewNotFound(groupResource(gvr), "")
	}
	return nil
}

// ---- writes (the seeder side; the tool itself only deletes maps) ----

// Create stores obj as new: a fresh UID and resourceVersion; 409
// AlreadyExists when the name is taken.
func (s *Store) Create(gvr schema.GroupVersionResource, obj runtime.Object) (*unstructured.Unstructured, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.served(gvr); err != nil {
		return nil, err
	}
	if u.GetName() == "" && u.GetGenerateName() != "" {
		u.SetName(u.GetGenerateName() + string(uuid.NewUUID())[:5])
	}
	k := key(u.GetNamespace(), u.GetName())
	if _, ok := s.objs[gvr][k]; ok {
		return nil, apierrors.NewAlreadyExists(groupResource(gvr), u.GetName())
	}
	u.SetUID(uuid.NewUUID())
	u.SetCreationTimestamp(metav1.Now())
	if gvr == podsGVR {
		// The API server's default: a new Pod is Pending.
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase == "" {
			_ = unstructured.SetNestedField(u.Object, string(corev1.PodPending), "status", "phase")
		}
	}
	s.write(gvr, watch.Added, u, nil)
	return u.DeepCopy(), nil
}

// Update replaces a stored object: 404 when absent, 409 Conflict when obj
// carries a resourceVersion that is no longer the stored one.
func (s *Store) Update(gvr schema.GroupVersionResource, obj runtime.Object) (*unstructured.Unstructured, error) {
	u, err := toUnstructured(obj)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.served(gvr); err != nil {
		return nil, err
	}
	old, ok := s.objs[gvr][key(u.GetNamespace(), u.GetName())]
	if !ok {
		return nil, apierrors.NewNotFound(groupResource(gvr), u.GetName())
	}
	if rv := u.GetResourceVersion(); rv != "" && rv != old.GetResourceVersion() {
		return nil, apierrors.NewConflict(groupResource(gvr), u.GetName(), fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
	}
	u.SetUID(old.GetUID())
	u.SetCreationTimestamp(old.GetCreationTimestamp())
	s.write(gvr, watch.Modified, u, old)
	return u.DeepCopy(), nil
}

// Delete removes an object, under preconditions when pre is not nil.
func (s *Store) Delete(gvr schema.GroupVersionResource, ns, name string, pre *metav1.Preconditions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.served(gvr); err != nil {
		return err
	}
	old, ok := s.objs[gvr][key(ns, name)]
	if !ok {
		return apierrors.NewNotFound(groupResource(gvr), name)
	}
	if pre != nil {
		// In the API server's words: the tool reports them, and the
		// contract suite checks they match.
		if pre.UID != nil && *pre.UID != old.GetUID() {
			return s.conflict(gvr, name, fmt.Sprintf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *pre.UID, old.GetUID()))
		}
		if pre.ResourceVersion != nil && *pre.ResourceVersion != old.GetResourceVersion() {
			return s.conflict(gvr, name, fmt.Sprintf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *pre.ResourceVersion, old.GetResourceVersion()))
		}
	}
	gone := old.DeepCopy()
	s.write(gvr, watch.Deleted, gone, old)
	return nil
}

// conflict is a failed precondition's 409 as the API server words it,
// naming the kind.
func (s *Store) conflict(gvr schema.GroupVersionResource, name, why string) error {
	err := apierrors.NewConflict(groupResource(gvr), name, errors.New(why))
	err.ErrStatus.Message = fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", s.kinds[gvr], name, why)
	return err
}

// write stores u at the next revision (or removes it, for Deleted) and
// tells the watchers. s.mu is held.
func (s *Store) write(gvr schema.GroupVersionResource, typ watch.EventType, u, old *unstructured.Unstructured) {
	s.rv++
	u.SetResourceVersion(strconv.FormatInt(s.rv, 10))
	k := key(u.GetNamespace(), u.GetName())
	if typ == watch.Deleted {
		delete(s.objs[gvr], k)
	} else {
		s.objs[gvr][k] = u.DeepCopy()
	}
	ev := event{gvr: gvr, typ: typ, obj: u.DeepCopy(), old: old, rv: s.rv}
	s.history = append(s.history, ev)
	for w := range s.watchers {
		w.offer(ev)
	}
}

// Compact forgets every revision before the current one, as etcd's
// compaction: continue tokens and watches from before it answer 410.
func (s *Store) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compacted = s.rv
	s.history = nil
	for id, snap := range s.snapshots {
		if snap.rv < s.compacted {
			delete(s.snapshots, id)
		}
	}
}

// ---- store.Store: each method is documented on the interface ----

// ListMaps implements store.Store.
func (s *Store) ListMaps(_ context.Context, ns string, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	items, meta, err := s.list(store.ConfigMapsGVR, ns, opts)
	if err != nil {
		return nil, err
	}
	out := &metav1.PartialObjectMetadataList{ListMeta: meta}
	out.APIVersion, out.Kind = "meta.k8s.io/v1", "PartialObjectMetadataList"
	for _, u := range items {
		out.Items = append(out.Items, *partial(u))
	}
	return out, nil
}

// ListMapsFull implements store.Store.
func (s *Store) ListMapsFull(_ context.Context, ns string, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	items, meta, err := s.list(store.ConfigMapsGVR, ns, opts)
	if err != nil {
		return nil, err
	}
	out := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMapList"}}
	out.SetResourceVersion(meta.ResourceVersion)
	out.SetContinue(meta.Continue)
	for _, u := range items {
		out.Items = append(out.Items, *u.DeepCopy())
	}
	return out, nil
}

// GetMap implements store.Store.
func (s *Store) GetMap(_ context.Context, ns, name string) (*metav1.PartialObjectMetadata, error) {
	u, err := s.get(store.ConfigMapsGVR, ns, name)
	if err != nil {
		return nil, err
	}
	return partial(u), nil
}

// DeleteMap implements store.Store.
func (s *Store) DeleteMap(_ context.Context, ns, name string, pre metav1.Preconditions) error {
	return s.Delete(store.ConfigMapsGVR, ns, name, &pre)
}

// SetMapOwners implements store.Store.
func (s *Store) SetMapOwners(_ context.Context, ns, name string, uid types.UID, rv string, owners []metav1.OwnerReference) error {
	return s.patchMap(ns, name, uid, rv, func(u *unstructured.Unstructured) { u.SetOwnerReferences(owners) })
}

// AnnotateMap implements store.Store.
func (s *Store) AnnotateMap(_ context.Context, ns, name string, uid types.UID, rv, annotation, value string) error {
	return s.patchMap(ns, name, uid, rv, func(u *unstructured.Unstructured) {
		a := u.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[annotation] = value
		u.SetAnnotations(a)
	})
}

// patchMap changes a ConfigMap's metadata as a merge patch carrying the
// UID and resourceVersion read does on the API server: another UID is
// 422 Invalid (metadata.uid is immutable), another resourceVersion 409.
func (s *Store) patchMap(ns, name string, uid types.UID, rv string, change func(*unstructured.Unstructured)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	gvr := store.ConfigMapsGVR
	old, ok := s.objs[gvr][key(ns, name)]
	switch {
	case !ok:
		return apierrors.NewNotFound(groupResource(gvr), name)
	case uid != old.GetUID():
		return apierrors.NewInvalid(schema.GroupKind{Kind: s.kinds[gvr]}, name, field.ErrorList{field.Invalid(field.NewPath("metadata", "uid"), uid, "field is immutable")})
	case rv != old.GetResourceVersion():
		return s.conflict(gvr, name, "the object has been modified; please apply your changes to the latest version and try again")
	}
	u := old.DeepCopy()
	change(u)
	s.write(gvr, watch.Modified, u, old)
	return nil
}

// ListNamespaces implements store.Store.
func (s *Store) ListNamespaces(_ context.Context, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	items, meta, err := s.list(store.NamespacesGVR, "", opts)
	if err != nil {
		return nil, err
	}
	out := &metav1.PartialObjectMetadataList{ListMeta: meta}
	for _, u := range items {
		out.Items = append(out.Items, *partial(u))
	}
	return out, nil
}

// ListPods implements store.Store.
func (s *Store) ListPods(_ context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	items, meta, err := s.list(podsGVR, ns, opts)
	if err != nil {
		return nil, err
	}
	out := &corev1.PodList{ListMeta: meta}
	for _, u := range items {
		p, err := toPod(u)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, *p)
	}
	return out, nil
}

// GetPod implements store.Store.
func (s *Store) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	u, err := s.get(podsGVR, ns, name)
	if err != nil {
		return nil, err
	}
	return toPod(u)
}

// WatchPods implements store.Store.
func (s *Store) WatchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return s.watch(ctx, podsGVR, ns, opts, func(u *unstructured.Unstructured) (runtime.Object, error) { return toPod(u) })
}

// ListApps implements store.Store.
func (s *Store) ListApps(_ context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	items, meta, err := s.list(gvr, ns, opts)
	if err != nil {
		return nil, err
	}
	out := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": gvr.GroupVersion().String(), "kind": s.kinds[gvr] + "List"}}
	out.SetResourceVersion(meta.ResourceVersion)
	out.SetContinue(meta.Continue)
	for _, u := range items {
		out.Items = append(out.Items, *u)
	}
	return out, nil
}

// GetApp implements store.Store.
func (s *Store) GetApp(_ context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	return s.get(gvr, ns, name)
}

// WatchApps implements store.Store.
func (s *Store) WatchApps(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return s.watch(ctx, gvr, ns, opts, func(u *unstructured.Unstructured) (runtime.Object, error) { return u, nil })
}

// CreateEvent implements store.Store.
func (s *Store) CreateEvent(_ context.Context, ns string, ev *corev1.Event) (*corev1.Event, error) {
	ev = ev.DeepCopy()
	if ev.Namespace == "" {
		ev.Namespace = ns
	}
	if ev.Namespace != ns {
		return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	u, err := s.Create(eventsGVR, ev)
	if err != nil {
		return nil, err
	}
	out := &corev1.Event{}
	return out, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

// ServerGroups implements store.Store.
func (s *Store) ServerGroups(_ context.Context) (*metav1.APIGroupList, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byGroup := map[string][]string{}
	for gvr := range s.objs {
		if !contains(byGroup[gvr.Group], gvr.Version) {
			byGroup[gvr.Group] = append(byGroup[gvr.Group], gvr.Version)
		}
	}
	names := make([]string, 0, len(byGroup))
	for g := range byGroup {
		names = append(names, g)
	}
	sort.Strings(names)
	out := &metav1.APIGroupList{}
	for _, g := range names {
		vs := byGroup[g]
		sort.Strings(vs)
		grp := metav1.APIGroup{Name: g}
		for _, v := range vs {
			gv := schema.GroupVersion{Group: g, Version: v}.String()
			grp.Versions = append(grp.Versions, metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: v})
		}
		grp.PreferredVersion = grp.Versions[len(grp.Versions)-1]
		out.Groups = append(out.Groups, grp)
	}
	return out, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---- reads ----

func (s *Store) get(gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.served(gvr); err != nil {
		return nil, err
	}
	u, ok := s.objs[gvr][key(ns, name)]
	if !ok {
		return nil, apierrors.NewNotFound(groupResource(gvr), name)
	}
	return u.DeepCopy(), nil
}

// token is a continue token: which snapshot, at which revision, and where
// the next page starts in it.
type token struct {
	ID    int64 `json:"id"`
	RV    int64 `json:"rv"`
	Start int   `json:"start"`
}

func (s *Store) list(gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) ([]*unstructured.Unstructured, metav1.ListMeta, error) {
	match, err := selector(gvr, opts)
	if err != nil {
		return nil, metav1.ListMeta{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.served(gvr); err != nil {
		return nil, metav1.ListMeta{}, err
	}
	var snap snapshot
	var tok token
	if opts.Continue != "" {
		tok, err = parseToken(opts.Continue)
		if err != nil {
			return nil, metav1.ListMeta{}, apierrors.NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err))
		}
		var ok bool
		snap, ok = s.snapshots[tok.ID]
		if tok.RV < s.compacted || !ok {
			// What the API server answers once etcd compacted the
			// revision the list reads at.
			return nil, metav1.ListMeta{}, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		}
	} else {
		snap = snapshot{rv: s.rv}
		for _, u := range s.objs[gvr] {
			if (ns == "" || u.GetNamespace() == ns) && match(u) {
				snap.items = append(snap.items, u.DeepCopy())
			}
		}
		sort.Slice(snap.items, func(i, j int) bool {
			return key(snap.items[i].GetNamespace(), snap.items[i].GetName()) < key(snap.items[j].GetNamespace(), snap.items[j].GetName())
		})
	}
	rest := snap.items[min(tok.Start, len(snap.items)):]
	meta := metav1.ListMeta{ResourceVersion: strconv.FormatInt(snap.rv, 10)}
	if opts.Limit > 0 && int64(len(rest)) > opts.Limit {
		rest = rest[:opts.Limit]
		id := tok.ID
		if opts.Continue == "" {
			s.nextSnap++
			id = s.nextSnap
			s.snapshots[id] = snap
		}
		meta.Continue = encodeToken(token{ID: id, RV: snap.rv, Start: tok.Start + int(opts.Limit)})
		left := int64(len(snap.items) - tok.Start - int(opts.Limit))
		meta.RemainingItemCount = &left
	}
	out := make([]*unstructured.Unstructured, len(rest))
	for i, u := range rest {
		out[i] = u.DeepCopy()
	}
	return out, meta, nil
}

func encodeToken(t token) string {
	b, _ := json.Marshal(t) //nolint:errchkjson // three integers always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseToken(s string) (token, error) {
	var t token
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	return t, err
}

// selector is opts' label and field selectors as one test, refusing the
// fields the API server does not index for gvr with its 400.
func selector(gvr schema.GroupVersionResource, opts metav1.ListOptions) (func(*unstructured.Unstructured) bool, error) {
	ls, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.ParseSelector(opts.FieldSelector)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	for _, r := range fs.Requirements() {
		switch {
		case r.Field == "metadata.name", r.Field == "metadata.namespace":
		case gvr == podsGVR && r.Field == "status.phase":
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
	}
	return func(u *unstructured.Unstructured) bool {
		if !ls.Matches(labels.Set(u.GetLabels())) {
			return false
		}
		set := fields.Set{"metadata.name": u.GetName(), "metadata.namespace": u.GetNamespace()}
		if gvr == podsGVR {
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			set["status.phase"] = phase
		}
		return fs.Matches(set)
	}, nil
}

// ---- conversions ----

func toUnstructured(obj runtime.Object) (*unstructured.Unstructured, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.DeepCopy(), nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T: %w", obj, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

func partial(u *unstructured.Unstructured) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	p.Name, p.Namespace, p.UID, p.ResourceVersion = u.GetName(), u.GetNamespace(), u.GetUID(), u.GetResourceVersion()
	p.Labels, p.Annotations, p.OwnerReferences = u.GetLabels(), u.GetAnnotations(), u.GetOwnerReferences()
	p.CreationTimestamp, p.DeletionTimestamp, p.Finalizers, p.GenerateName = u.GetCreationTimestamp(), u.GetDeletionTimestamp(), u.GetFinalizers(), u.GetGenerateName()
	return p
}

func toPod(u *unstructured.Unstructured) (*corev1.Pod, error) {
	p := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		return nil, fmt.Errorf("convert pod %s: %w", u.GetName(), err)
	}
	return p, nil
}
