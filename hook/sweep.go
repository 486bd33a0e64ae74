package hook

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/pager"
)

// SweepOptions configures the TTL fallback over whole namespaces.
type SweepOptions struct {
	// Namespace to sweep, or every namespace with AllNamespaces.
	Namespace     string
	AllNamespaces bool
	// OlderThan: only maps whose application ended (or, where that is not
	// known, which were created) at least this long ago.
	OlderThan time.Duration
	DryRun    bool
	// Concurrency bounds deletes in flight (default 32).
	Concurrency int
	// BatchSize is how many deletions share one fresh read of the Pods
	// that use maps (default 500): use is re-checked just before each batch.
	BatchSize int
	// PageSize is the list page size (default 500).
	PageSize int64
	// Retry bounds retries of each API call.
	Retry RetryPolicy
	// Progress, when set, is called after each map is decided.
	Progress func(done, total int)
	// Now is the clock for ages (default time.Now).
	Now func() time.Time
}

func (o *SweepOptions) validate() error {
	if o.AllNamespaces && o.Namespace != "" {
		return Usagef("give -n NAMESPACE or -A, not both")
	}
	if !o.AllNamespaces {
		if err := ValidateNamespace(o.Namespace); err != nil {
			return err
		}
	}
	if o.OlderThan < 0 {
		return Usagef("--older-than must not be negative")
	}
	return nil
}

// ValidateSweep checks sweep options without any API call.
func ValidateSweep(o SweepOptions) error { return o.validate() }

// sweepIndex is what one sweep knows about the namespaces it sweeps.
type sweepIndex struct {
	appsByUID   map[types.UID]*sparkApp
	appsByName  map[string]*sparkApp // ns/name
	appsByID    map[string]*sparkApp // ns/app id
	podsByUID   map[types.UID]*corev1.Pod
	podsByName  map[string]*corev1.Pod // ns/name
	driversByID map[string]*corev1.Pod // ns/app id
}

// Sweep finds and deletes, across a namespace (or all of them), every map
// that Spark generated for an application that has finished or is gone,
// older than OlderThan, with the same judge and exclusions as Cleanup. Lists
// are paged and ConfigMaps are read as metadata only, so memory grows with
// the number of maps, not their size.
func Sweep(ctx context.Context, c Clients, log *slog.Logger, o SweepOptions) (*Result, error) {
	start := time.Now()
	res := &Result{Namespace: o.Namespace, DryRun: o.DryRun}
	defer func() { res.Elapsed = time.Since(start); res.normalize() }()
	if err := o.validate(); err != nil {
		return res, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Retry = o.Retry.withDefaults()
	ns := o.Namespace
	if o.AllNamespaces {
		ns = metav1.NamespaceAll
	}
	s := &sweeper{c: c, log: log.With("namespace", nsLabel(ns)), o: o, ns: ns}

	total, toDelete, err := s.judgeAll(ctx, res)
	if err != nil {
		return res, err
	}
	done := len(res.Skipped)
	progress := func() {
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}

	d := &deleter{maps: c.Metadata, log: s.log, retry: o.Retry, concurrency: o.Concurrency, dryRun: o.DryRun}
	for startAt := 0; startAt < len(toDelete); startAt += o.BatchSize {
		batch := toDelete[startAt:min(startAt+o.BatchSize, len(toDelete))]
		// Re-read which Pods use maps just before deleting: a Pod created
		// since the first pass must keep its map.
		used, err := s.inUse(ctx)
		if err != nil {
			return res, err
		}
		var ready []Entry
		for _, e := range batch {
			if users := used.usedBy(e.Namespace, e.Name); len(users) > 0 {
				e.Decision, e.Reason = Skipped, usedByReason(users)
				res.add(e)
				progress()
				continue
			}
			ready = append(ready, e)
		}
		err = d.deleteAll(ctx, ready, func(e Entry) { res.add(e); progress() })
		if err != nil {
			sortEntries(res)
			return res, err
		}
	}
	sortEntries(res)
	s.log.Info("sweep finished", "deleted", len(res.Deleted), "skipped", len(res.Skipped), "failed", len(res.Failed), "dryRun", o.DryRun)
	if len(res.Failed) > 0 {
		return res, &PartialFailureError{Failed: len(res.Failed)}
	}
	return res, nil
}

// judgeAll reads the indexes and the candidate maps, files every map that
// must stay under res.Skipped, and returns the ones to delete. The indexes
// and candidates die with it, so the delete phase holds only the entries.
func (s *sweeper) judgeAll(ctx context.Context, res *Result) (int, []Entry, error) {
	ix, err := s.index(ctx)
	if err != nil {
		return 0, nil, err
	}
	candidates, ignored, err := s.candidates(ctx)
	if err != nil {
		return 0, nil, err
	}
	s.log.Info("listed", "sparkApplications", len(ix.appsByUID), "pods", len(ix.podsByUID), "sparkConfigMaps", len(candidates), "otherConfigMaps", ignored)

	o := s.o
	now := o.Now()
	ids := map[string]bool{}
	var toDelete []Entry
	progress := func() {
		if o.Progress != nil {
			o.Progress(len(res.Skipped), len(candidates))
		}
	}
	for i := range candidates {
		m := &candidates[i]
		e := Entry{Namespace: m.Namespace, Name: m.Name, UID: string(m.UID), AppID: m.Labels[LabelAppSelector]}
		app, reason := ix.viewFor(m)
		e.Kind = KindOf(m.Name)
		if reason == "" {
			e.Kind, reason = app.judge(m)
		}
		if reason == "" {
			if isLive, why := app.live(); isLive {
				reason = "application still running: " + why
			}
		}
		if app != nil && e.AppID == "" {
			e.AppID = firstNonEmpty(app.ids()...)
		}
		since := m.CreationTimestamp.Time
		if app != nil {
			if t := app.finishedAt(); !t.IsZero() {
				since = t
			}
		}
		e.Age = now.Sub(since)
		if reason == "" && e.Age < o.OlderThan {
			reason = fmt.Sprintf("younger than --older-than %s", o.OlderThan)
		}
		if reason != "" {
			e.Decision, e.Reason = Skipped, reason
			res.add(e)
			progress()
			continue
		}
		if e.AppID != "" {
			ids[e.AppID] = true
		}
		toDelete = append(toDelete, e)
	}
	res.AppIDs = sortedKeys(ids)
	return len(candidates), toDelete, nil
}

type sweeper struct {
	c   Clients
	log *slog.Logger
	o   SweepOptions
	ns  string
}

func nsLabel(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

func nsKey(ns, name string) string { return ns + "/" + name }

const sparkAppPageSize = 100

// index reads every SparkApplication and every Pod once, page by page,
// keeping only what judging needs.
func (s *sweeper) index(ctx context.Context) (*sweepIndex, error) {
	ix := &sweepIndex{
		appsByUID: map[types.UID]*sparkApp{}, appsByName: map[string]*sparkApp{}, appsByID: map[string]*sparkApp{},
		podsByUID: map[types.UID]*corev1.Pod{}, podsByName: map[string]*corev1.Pod{}, driversByID: map[string]*corev1.Pod{},
	}
	apps := s.c.Dynamic.Resource(SparkApplicationGVR).Namespace(s.ns)
	err := s.paged(ctx, "list sparkapplications", "list", SparkApplicationGVR.Group, SparkApplicationGVR.Resource,
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			// A SparkApplication decodes into a generic map many times its
			// size on the wire; smaller pages keep that bounded.
			opts.Limit = min(opts.Limit, sparkAppPageSize)
			return apps.List(ctx, opts)
		},
		func(obj runtime.Object) {
			u := obj.(*unstructured.Unstructured)
			a := parseSparkApp(u)
			ix.appsByUID[a.UID] = a
			ix.appsByName[nsKey(u.GetNamespace(), a.Name)] = a
			if a.AppID != "" {
				ix.appsByID[nsKey(u.GetNamespace(), a.AppID)] = a
			}
		}, func() { clear(ix.appsByUID); clear(ix.appsByName); clear(ix.appsByID) })
	if apierrors.IsNotFound(err) {
		// No Spark Operator CRD: plain spark-submit applications only.
		s.log.Debug("no SparkApplication resource on this cluster")
		err = nil
	}
	if err != nil {
		return nil, err
	}
	pods := s.c.Kube.CoreV1().Pods(s.ns)
	err = s.paged(ctx, "list pods", "list", "", "pods",
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return pods.List(ctx, opts)
		},
		func(obj runtime.Object) {
			p := trimPod(obj.(*corev1.Pod))
			ix.podsByUID[p.UID] = p
			ix.podsByName[nsKey(p.Namespace, p.Name)] = p
			if p.Labels[LabelRole] == RoleDriver && p.Labels[LabelAppSelector] != "" {
				ix.driversByID[nsKey(p.Namespace, p.Labels[LabelAppSelector])] = p
			}
		}, func() { clear(ix.podsByUID); clear(ix.podsByName); clear(ix.driversByID) })
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// trimPod keeps what judging a driver needs, so a page of full Pods is not
// held in memory.
func trimPod(p *corev1.Pod) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, Labels: p.Labels,
			OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp},
		Status: corev1.PodStatus{Phase: p.Status.Phase, ContainerStatuses: p.Status.ContainerStatuses},
	}
}

// candidates lists every ConfigMap's metadata and keeps those with any sign
// of Spark: a name Spark generates, the spark-app-selector label, or a
// SparkApplication owner. The rest is only counted.
func (s *sweeper) candidates(ctx context.Context) ([]metav1.ObjectMeta, int, error) {
	var out []metav1.ObjectMeta
	ignored := 0
	maps := s.c.Metadata.Resource(configMapsGVR).Namespace(s.ns)
	err := s.paged(ctx, "list configmaps", "list", "", "configmaps",
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return maps.List(ctx, opts)
		},
		func(obj runtime.Object) {
			m := obj.(*metav1.PartialObjectMetadata)
			if !sparkSignal(&m.ObjectMeta) {
				ignored++
				return
			}
			// Keep only what judging reads; managedFields and the rest
			// would multiply memory by the number of maps.
			out = append(out, metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, Labels: m.Labels,
				Annotations: keepAnnotation(m.Annotations), OwnerReferences: m.OwnerReferences, CreationTimestamp: m.CreationTimestamp})
		}, func() { out = out[:0]; ignored = 0 })
	if err != nil {
		return nil, 0, err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, ignored, nil
}

func keepAnnotation(a map[string]string) map[string]string {
	if v, ok := a[AnnotationKeep]; ok {
		return map[string]string{AnnotationKeep: v}
	}
	return nil
}

func sparkSignal(m *metav1.ObjectMeta) bool {
	if KindOf(m.Name) != KindNotGenerated {
		return true
	}
	if _, ok := m.Labels[LabelAppSelector]; ok {
		return true
	}
	for _, ref := range m.OwnerReferences {
		if ref.Kind == "SparkApplication" {
			return true
		}
	}
	return false
}

// viewFor builds the application a map belongs to from its owners or its
// label, or says why it cannot be judged.
func (ix *sweepIndex) viewFor(m *metav1.ObjectMeta) (*appView, string) {
	a := newAppView(m.Namespace)
	label := m.Labels[LabelAppSelector]
	for _, ref := range m.OwnerReferences {
		switch {
		case ref.Kind == "Pod" && ref.APIVersion == "v1":
			if p, ok := ix.podsByUID[ref.UID]; ok {
				if p.Labels[LabelRole] != RoleDriver {
					return nil, fmt.Sprintf("owner Pod %s is not a Spark driver", p.Name)
				}
				a.setDriver(p)
				ix.addOwningApp(a, p)
			} else {
				// The owner is gone; the garbage collector has not (yet)
				// removed what it owned.
				a.DriverName, a.DriverUID, a.DriverGone = ref.Name, ref.UID, true
				a.addID(label)
				if sa, ok := ix.appsByID[nsKey(m.Namespace, label)]; ok && label != "" {
					a.setApp(sa)
				}
			}
		case ref.Kind == "SparkApplication":
			if sa, ok := ix.appsByUID[ref.UID]; ok {
				a.setApp(sa)
				if p, ok := ix.podsByName[nsKey(m.Namespace, sa.DriverPod)]; ok && sa.DriverPod != "" && p.Labels[LabelRole] == RoleDriver {
					a.Driver = p // for liveness only; ownership stays with the map's own refs
				}
			} else {
				a.AppName, a.AppGone = ref.Name, true
			}
		}
	}
	if len(m.OwnerReferences) == 0 && label != "" {
		a.addID(label)
		if p, ok := ix.driversByID[nsKey(m.Namespace, label)]; ok {
			a.Driver = p // liveness only: an ownerless map is matched by its label
		}
		if sa, ok := ix.appsByID[nsKey(m.Namespace, label)]; ok {
			a.App = sa
		}
	}
	return a, ""
}

// addOwningApp records the SparkApplication that owns a driver Pod.
func (ix *sweepIndex) addOwningApp(a *appView, p *corev1.Pod) {
	for _, ref := range p.OwnerReferences {
		if ref.Kind == "SparkApplication" {
			if sa, ok := ix.appsByUID[ref.UID]; ok {
				a.setApp(sa)
			}
		}
	}
}

// inUse reads the non-terminated Pods (terminated ones are filtered on the
// server) and indexes the maps they use.
func (s *sweeper) inUse(ctx context.Context) (refIndex, error) {
	ix := refIndex{}
	pods := s.c.Kube.CoreV1().Pods(s.ns)
	err := s.paged(ctx, "list running pods", "list", "", "pods",
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = nonTerminatedPods
			return pods.List(ctx, opts)
		},
		func(obj runtime.Object) { ix.add(obj.(*corev1.Pod), nil) },
		func() { clear(ix) })
	return ix, err
}

// paged lists page by page with retry; a failed pass restarts from the
// first page after reset, so nothing is counted twice.
func (s *sweeper) paged(ctx context.Context, what, verb, group, resource string,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error), each func(runtime.Object), reset func()) error {
	return callAPI(ctx, s.log, s.o.Retry, s.ns, what, verb, group, resource, func(ctx context.Context) error {
		reset()
		p := pager.New(list)
		p.PageSize = s.o.PageSize
		// One page read ahead keeps the pipeline going; the default ten
		// would hold thousands of decoded objects at once, which is what
		// bounds memory here.
		p.PageBufferSize = 1
		return p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
			each(obj)
			return nil
		})
	})
}
