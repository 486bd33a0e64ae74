// Package controller is sparkcm-hook's long-running mode: it watches Spark's
// Pods and SparkApplications through shared informers and cleans
// each application soon after it ends, through exactly the code path of
// hook.Cleanup, with hook.Sweep as a periodic fallback. It holds no deletion
// rule of its own: what it sees only decides when to ask; hook.Cleanup and
// hook.Sweep decide what, if anything, is deleted, on fresh reads.
//
// The informers are built on client-go's tools/cache over the tool's own
// clients (hook/kube, metadata, dynamic): client-go's informer factories
// import the clientset, which the binary does not link.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// Defaults of Options.
const (
	// DefaultGrace is how long after an application is seen to end it is
	// cleaned: Spark's own shutdown (executors deleted, the operator's last
	// state) usually settles within it, so the cleanup finds it finished;
	// and with the cleanup's own tenth of a second or so, an application's
	// maps are gone within 2 s of its end.
	DefaultGrace = time.Second
	// DefaultResyncPeriod is how often the fallback sweep runs.
	DefaultResyncPeriod = time.Hour
	// DefaultOlderThan is the fallback sweep's --older-than: it catches what
	// the informers missed (the controller was down, an API server
	// restart), not what the work queue is about to clean.
	DefaultOlderThan = time.Hour
	// DefaultWorkers is how many applications are cleaned at once.
	DefaultWorkers = 4
	// maxRequeues bounds the retries of one application's cleanup that
	// failed; the fallback sweep takes over after that.
	maxRequeues = 8
)

// Options configures the controller.
type Options struct {
	// Namespaces to watch, or every namespace with AllNamespaces.
	Namespaces    []string
	AllNamespaces bool
	// Grace: an application seen to end is cleaned this long after.
	Grace time.Duration
	// ResyncPeriod: how often the fallback sweep runs (the first at start).
	ResyncPeriod time.Duration
	// OlderThan and OrphanOlderThan are the fallback sweep's bounds, as
	// hook.SweepOptions takes them (OrphanOlderThan zero: its default).
	OlderThan, OrphanOlderThan time.Duration
	DryRun                     bool
	// Workers: applications cleaned at once.
	Workers int
	// Concurrency bounds the deletes in flight of each cleanup.
	Concurrency int
	Retry       hook.RetryPolicy
	NoEvent     bool

	// Cleaned, when set, is told of every cleanup the queue ran, with its
	// result and error (tests, metrics). Never called concurrently.
	Cleaned func(App, *hook.Result, error)
	// Swept, when set, is told of every fallback sweep.
	Swept func(*hook.Result, error)
	// Lead, when set, runs lead (the work queue's workers and the fallback
	// sweep) only while this replica holds leadership: lead's context ends
	// when it is lost. Nil runs lead at once (a single replica). The
	// informers run either way, so that a new leader starts warm.
	Lead func(ctx context.Context, lead func(context.Context)) error
	// Listener, when set, serves /healthz, /readyz (200 once the
	// informers have synced) and /metrics (Prometheus) until ctx ends.
	Listener net.Listener
}

func (o *Options) validate() error {
	if o.AllNamespaces && len(o.Namespaces) > 0 {
		return hook.Usagef("give namespaces or all namespaces, not both")
	}
	if !o.AllNamespaces && len(o.Namespaces) == 0 {
		return hook.Usagef("give a namespace or all namespaces")
	}
	for _, ns := range o.Namespaces {
		if err := hook.ValidateNamespace(ns); err != nil {
			return err
		}
	}
	switch {
	case o.Grace < 0:
		return hook.Usagef("the grace must not be negative")
	case o.ResyncPeriod <= 0:
		return hook.Usagef("the resync period must be positive")
	case o.Workers < 0:
		return hook.Usagef("workers must not be negative")
	}
	// The fallback sweep's bounds, as Sweep checks them.
	so := o.sweepOptions()
	return so.Validate()
}

// Validate checks the options without any API call.
func Validate(o Options) error { return o.validate() }

func (o *Options) sweepOptions() hook.SweepOptions {
	s := hook.SweepOptions{AllNamespaces: o.AllNamespaces, OlderThan: o.OlderThan, OrphanOlderThan: o.OrphanOlderThan,
		DryRun: o.DryRun, Retry: o.Retry, NoEvent: o.NoEvent}
	if len(o.Namespaces) == 1 {
		s.Namespace = o.Namespaces[0]
	} else {
		s.Namespaces = o.Namespaces
	}
	return s
}

// App is one application as the work queue knows it: the target its
// cleanup is given, exactly as `cleanup` takes it.
type App struct {
	Namespace string
	// Exactly one of them.
	SparkApp  string
	DriverPod string
	// Operator says whose SparkApplication SparkApp is (hook.OperatorKubeflow
	// or hook.OperatorApache, as cleanup --operator takes it): both
	// operators' groups may hold an application of the name, and cleanup
	// never guesses which is meant.
	Operator string
}

func (a App) String() string {
	if a.SparkApp != "" {
		s := a.Namespace + "/SparkApplication/" + a.SparkApp
		if a.Operator != "" {
			s += " (" + a.Operator + ")"
		}
		return s
	}
	return a.Namespace + "/Pod/" + a.DriverPod
}

func (a App) cleanupOptions(o *Options) hook.CleanupOptions {
	return hook.CleanupOptions{Namespace: a.Namespace, SparkApp: a.SparkApp, DriverPod: a.DriverPod, Operator: a.Operator,
		DryRun: o.DryRun, Concurrency: o.Concurrency, Retry: o.Retry, NoEvent: o.NoEvent}
}

// byAppID indexes Pods by their Spark application id.
const byAppID = "appID"

// Controller is one running controller.
type Controller struct {
	c     hook.Clients
	log   *slog.Logger
	o     Options
	queue workqueue.TypedRateLimitingInterface[App]
	// stamps are the client-mode applications (namespace/app id) whose
	// executors were seen running, for their maps' last-active stamp.
	stamps workqueue.TypedRateLimitingInterface[string]

	pods, apps []cache.SharedIndexInformer
	// stamped is when each client-mode application's maps were last
	// listed for the stamp (only stampWork reads and writes it), and
	// pruned when it was last cleared of entries past the interval.
	stamped map[string]time.Time
	pruned  time.Time

	start  time.Time
	m      *metrics
	mu     sync.Mutex // guards total and the callbacks
	total  hook.Result
	seenID map[string]bool
}

// Run runs the controller until ctx ends, and returns what it did in
// total (counts only), with no error once it has started. It returns an
// error for bad options, when its informers cannot start (a refused list
// is a *hook.ForbiddenError) or ctx ends before they have, and when Lead
// fails; the failures of single cleanups are logged and retried, then
// left to the fallback sweep.
func Run(ctx context.Context, c hook.Clients, log *slog.Logger, o Options) (*hook.Result, error) {
	if err := o.validate(); err != nil {
		return &hook.Result{}, err
	}
	if o.Workers == 0 {
		o.Workers = DefaultWorkers
	}
	ctl := &Controller{c: c, log: log.With("mode", "controller"), o: o, seenID: map[string]bool{}, start: time.Now(), stamped: map[string]time.Time{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[App](),
			workqueue.TypedRateLimitingQueueConfig[App]{Name: "sparkcm-hook"}),
		stamps: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "sparkcm-hook-last-active"})}
	ctl.m = newMetrics(ctl.queue.Len)
	ctl.total.DryRun = o.DryRun
	ctl.total.Namespace = strings.Join(ctl.scope(), ",")
	defer ctl.queue.ShutDown()
	defer ctl.stamps.ShutDown()
	if err := ctl.informers(ctx); err != nil {
		return &ctl.total, err
	}
	var wg sync.WaitGroup
	if o.Listener != nil {
		wg.Add(1)
		go func() { defer wg.Done(); ctl.m.serve(ctx, o.Listener) }()
	}
	for _, inf := range ctl.all() {
		wg.Add(1)
		go func() { defer wg.Done(); inf.RunWithContext(ctx) }()
	}
	defer wg.Wait()
	synced := make([]cache.InformerSynced, 0, len(ctl.all()))
	for _, inf := range ctl.all() {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctl.result(), fmt.Errorf("stopped before the informers' first lists completed: %w", context.Cause(ctx))
	}
	ctl.m.ready.Store(true)
	ctl.log.Info("watching", "namespaces", ctl.scope(), "grace", o.Grace, "resyncPeriod", o.ResyncPeriod)
	lead := func(ctx context.Context) {
		ctl.log.Info("leading: cleaning applications as they end")
		ctl.m.leader.Set(1)
		defer ctl.m.leader.Set(0)
		// Losing the lead (or stopping) stops the workers between two
		// applications; what was queued is the next leader's to see.
		defer context.AfterFunc(ctx, func() { ctl.queue.ShutDown(); ctl.stamps.ShutDown() })()
		// The first sweep runs before the workers: the applications that
		// ended while no controller watched are queued too (the informers'
		// first list), and the sweep and a cleanup of the same application
		// at once would both count its maps.
		ctl.sweep(ctx)
		var lw sync.WaitGroup
		for range o.Workers {
			lw.Add(1)
			go func() { defer lw.Done(); ctl.work(ctx) }()
		}
		lw.Add(3)
		go func() { defer lw.Done(); ctl.sweepEvery(ctx) }()
		go func() { defer lw.Done(); ctl.stampWork(ctx) }()
		go func() { defer lw.Done(); ctl.restampEvery(ctx) }()
		lw.Wait()
	}
	if o.Lead == nil {
		lead(ctx)
	} else if err := o.Lead(ctx, lead); err != nil && ctx.Err() == nil {
		return ctl.result(), err
	}
	return ctl.result(), nil
}

func (ctl *Controller) all() []cache.SharedIndexInformer {
	return slices.Concat(ctl.pods, ctl.apps)
}

func (ctl *Controller) scope() []string {
	if ctl.o.AllNamespaces {
		return []string{metav1.NamespaceAll}
	}
	return ctl.o.Namespaces
}

func (ctl *Controller) result() *hook.Result {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	r := ctl.total
	r.Elapsed = time.Since(ctl.start)
	r.Seconds = r.Elapsed.Seconds()
	for id := range ctl.seenID {
		r.AppIDs = append(r.AppIDs, id)
	}
	slices.Sort(r.AppIDs)
	return &r
}

// operators are the operators whose SparkApplications the controller
// watches, where the API server serves them.
var operators = []string{hook.OperatorKubeflow, hook.OperatorApache}

// appResource is one operator's SparkApplications, in the version the
// tool reads.
type appResource struct {
	operator string
	gvr      schema.GroupVersionResource
}

// informers builds one informer per namespace (or one for all) for Spark's
// Pods (label spark-role) and each operator's SparkApplications (where the
// API server serves a version the tool reads). ConfigMaps are not cached:
// a namespace may hold any number of them, most of them not Spark's, and
// only the client-mode stamp needs any, which it lists by label.
func (ctl *Controller) informers(ctx context.Context) error {
	served, err := ctl.servedApps(ctx)
	if err != nil {
		return err
	}
	if err := ctl.probe(ctx, served); err != nil {
		return err
	}
	indexers := cache.Indexers{byAppID: podsByAppID}
	for _, ns := range ctl.scope() {
		pods := cache.NewSharedIndexInformer(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				opts.LabelSelector = rule.LabelRole
				return ctl.c.Kube.CoreV1().Pods(ns).List(ctx, opts)
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				opts.LabelSelector = rule.LabelRole
				return ctl.c.Kube.CoreV1().Pods(ns).Watch(ctx, opts)
			},
		}, &corev1.Pod{}, 0, indexers)
		// What the controller needs of a Pod is its metadata and phase:
		// the rest would only cost memory.
		if err := pods.SetTransform(trimPod); err != nil {
			return err
		}
		if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { ctl.podChanged(nil, obj) },
			UpdateFunc: ctl.podChanged,
			DeleteFunc: ctl.podDeleted,
		}); err != nil {
			return err
		}
		ctl.pods = append(ctl.pods, pods)

		for _, r := range served {
			apps := cache.NewSharedIndexInformer(&cache.ListWatch{
				ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
					return ctl.c.Dynamic.Resource(r.gvr).Namespace(ns).List(ctx, opts)
				},
				WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
					return ctl.c.Dynamic.Resource(r.gvr).Namespace(ns).Watch(ctx, opts)
				},
			}, &unstructured.Unstructured{}, 0, cache.Indexers{})
			if _, err := apps.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
				AddFunc:    func(obj any, initial bool) { ctl.appAdded(r.operator, obj, initial) },
				UpdateFunc: func(oldObj, obj any) { ctl.appChanged(r.operator, oldObj, obj) },
				DeleteFunc: func(obj any) { ctl.appDeleted(r.operator, obj) },
			}); err != nil {
				return err
			}
			ctl.apps = append(ctl.apps, apps)
		}
	}
	return nil
}

// servedApps is the SparkApplication resource of each operator whose
// group the API server serves in a version the tool reads (as cleanup and
// sweep read them). A group served only in versions the tool cannot read
// is not watched: cleanup and sweep keep what its applications own.
func (ctl *Controller) servedApps(ctx context.Context) ([]appResource, error) {
	var served []appResource
	for _, op := range operators {
		var (
			gvr schema.GroupVersionResource
			ok  bool
		)
		err := kube.Retry(ctx, ctl.log, ctl.o.Retry, "read the API groups", func(ctx context.Context) error {
			var err error
			gvr, ok, err = hook.ServedSparkApps(ctx, ctl.c, op)
			var unserved *hook.UnservedError
			if errors.As(err, &unserved) && unserved.Err != nil {
				return unserved.Err // discovery failed: retried as any request
			}
			return err
		})
		var unserved *hook.UnservedError
		switch {
		case errors.As(err, &unserved):
			ctl.log.Warn("SparkApplications cannot be read: not watched; the maps they own are kept", "operator", op, "err", err)
			continue
		case err != nil:
			return nil, fmt.Errorf("read the API groups: %w", kube.AsForbidden(err, "get", "", "/apis (discovery)", ""))
		case !ok:
			ctl.log.Info("SparkApplications are not served: not watched", "operator", op)
			continue
		}
		served = append(served, appResource{operator: op, gvr: gvr})
	}
	return served, nil
}

// probe lists one of each resource the informers watch (and maps, which
// the cleanups and sweeps list), in each namespace:
// an informer retries a refused list forever, so a missing grant would
// otherwise leave the controller waiting silently. A refusal is a
// *hook.ForbiddenError naming the verb to grant.
func (ctl *Controller) probe(ctx context.Context, served []appResource) error {
	one := metav1.ListOptions{Limit: 1}
	for _, ns := range ctl.scope() {
		probes := []struct {
			group, resource string
			list            func(context.Context) error
		}{
			{"", "pods", func(ctx context.Context) error { _, err := ctl.c.Kube.CoreV1().Pods(ns).List(ctx, one); return err }},
			{"", "configmaps", func(ctx context.Context) error {
				_, err := ctl.c.Metadata.Resource(store.ConfigMapsGVR).Namespace(ns).List(ctx, one)
				return err
			}},
		}
		for _, r := range served {
			probes = append(probes, struct {
				group, resource string
				list            func(context.Context) error
			}{r.gvr.Group, r.gvr.Resource, func(ctx context.Context) error {
				_, err := ctl.c.Dynamic.Resource(r.gvr).Namespace(ns).List(ctx, one)
				return err
			}})
		}
		for _, p := range probes {
			if err := kube.Retry(ctx, ctl.log, ctl.o.Retry, "list "+p.resource, p.list); err != nil {
				return fmt.Errorf("list %s: %w", p.resource, kube.AsForbidden(err, "list", p.group, p.resource, ns))
			}
		}
	}
	return nil
}

// podsByAppID indexes the cached Pods by namespace/application id.
func podsByAppID(obj any) ([]string, error) {
	p := podOf(obj)
	if p == nil || p.AppID == "" {
		return nil, nil
	}
	return []string{p.Namespace + "/" + p.AppID}, nil
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return o, nil
}

// sparkPod is what the controller keeps of a Spark Pod: exactly what the
// handlers read (podChanged, podDeleted, executorSeen, driverOf,
// appOfDriver) and the informer's bookkeeping. A corev1.Pod, even emptied,
// is a 1.2 KiB struct, and the cache holds one per Spark Pod of the
// watched namespaces.
type sparkPod struct {
	// Name, namespace, UID and resourceVersion only.
	metav1.ObjectMeta
	// Role and AppID are its spark-role and spark-app-selector labels.
	Role, AppID string
	Phase       corev1.PodPhase
	// App is the SparkApplication that controls the Pod, of the operator
	// Operator (controllingApp); empty when there is none.
	App, Operator string
}

func (p *sparkPod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (p *sparkPod) DeepCopyObject() runtime.Object {
	c := *p
	p.DeepCopyInto(&c.ObjectMeta) // ObjectMeta's own; the other fields are strings
	return &c
}

// trimPod is the informer's transform: a Pod becomes its sparkPod.
func trimPod(obj any) (any, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return sparkPodOf(p), nil
	}
	return obj, nil
}

func sparkPodOf(p *corev1.Pod) *sparkPod {
	t := &sparkPod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion},
		Role: p.Labels[rule.LabelRole], AppID: p.Labels[rule.LabelAppSelector], Phase: p.Status.Phase}
	if ref, op := controllingApp(p.OwnerReferences); ref != nil {
		t.App, t.Operator = ref.Name, op
	}
	return t
}

// podOf is the sparkPod of an informer's object (also the last state of
// one deleted while the watch was broken); nil for anything else.
func podOf(obj any) *sparkPod {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	switch p := obj.(type) {
	case *sparkPod:
		return p
	case *corev1.Pod:
		return sparkPodOf(p)
	}
	return nil
}

// terminated: the Pod's phase says it will run no more.
func terminated(p *sparkPod) bool {
	return p.Phase == corev1.PodSucceeded || p.Phase == corev1.PodFailed
}

// podChanged queues the application of a driver Pod that has terminated,
// and of an executor Pod that has terminated when its driver is known (an
// application whose cleanup found executors still running is asked again
// when they end). An executor of an application with no driver Pod
// (client mode) queues nothing: nothing in the cluster proves such an
// application ended.
func (ctl *Controller) podChanged(oldObj, obj any) {
	p := podOf(obj)
	if p == nil {
		return
	}
	if !terminated(p) {
		ctl.executorSeen(p)
		return
	}
	if old := podOf(oldObj); old != nil && terminated(old) {
		return // already queued when it terminated
	}
	ctl.podEnded(p)
}

func (ctl *Controller) podDeleted(obj any) {
	if p := podOf(obj); p != nil {
		ctl.podEnded(p)
	}
}

func (ctl *Controller) podEnded(p *sparkPod) {
	switch p.Role {
	case rule.RoleDriver:
		ctl.enqueue(appOfDriver(p))
	case rule.RoleExecutor:
		if d := ctl.driverOf(p); d != nil {
			ctl.enqueue(appOfDriver(d))
		}
	}
}

// executorSeen queues the last-active stamp of a running executor's
// application when no driver Pod of it is in the cluster (client mode):
// Spark deletes finished executors, and the stamp is what then tells the
// sweep's orphan bound that the session ran.
func (ctl *Controller) executorSeen(p *sparkPod) {
	id := p.AppID
	if p.Role != rule.RoleExecutor || id == "" || p.Phase != corev1.PodRunning || ctl.driverOf(p) != nil {
		return
	}
	ctl.stamps.Add(p.Namespace + "/" + id)
}

// restampEvery queues, every hook.LastActiveEvery, the stamp of every
// client-mode application with an executor running: an executor that runs
// for hours and is then deleted leaves no trace of those hours but the
// stamp.
func (ctl *Controller) restampEvery(ctx context.Context) {
	t := time.NewTicker(hook.LastActiveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, inf := range ctl.pods {
			for _, o := range inf.GetStore().List() {
				if p := podOf(o); p != nil {
					ctl.executorSeen(p)
				}
			}
		}
	}
}

// stampWork stamps the ownerless executor maps of the queued applications
// (hook.StampApp: at most once a minute per map) until ctx ends.
func (ctl *Controller) stampWork(ctx context.Context) {
	for {
		key, shutdown := ctl.stamps.Get()
		if shutdown {
			return
		}
		err := ctl.stamp(ctx, key)
		switch {
		case err == nil || ctx.Err() != nil:
			ctl.stamps.Forget(key)
		case ctl.stamps.NumRequeues(key) >= maxRequeues:
			ctl.log.Warn("could not stamp a client-mode application's maps as active", "app", key, "err", err)
			ctl.stamps.Forget(key)
		default:
			ctl.stamps.AddRateLimited(key)
		}
		ctl.stamps.Done(key)
	}
}

// stamp lists and stamps one application's executor maps (key is
// namespace/app id), at most once per hook.LastActiveEvery: every update
// of a running executor queues its application, and a stamp is a minute's
// precision anyway. A failed list or stamp is not remembered, so the
// retry lists again.
func (ctl *Controller) stamp(ctx context.Context, key string) error {
	now := ctl.c.Clock.Now()
	if now.Sub(ctl.pruned) >= hook.LastActiveEvery {
		maps.DeleteFunc(ctl.stamped, func(_ string, at time.Time) bool { return now.Sub(at) >= hook.LastActiveEvery })
		ctl.pruned = now
	}
	if at, ok := ctl.stamped[key]; ok && now.Sub(at) < hook.LastActiveEvery && !now.Before(at) {
		return nil
	}
	ns, id, _ := strings.Cut(key, "/")
	if _, err := hook.StampApp(ctx, ctl.c, ctl.log, ns, id, now); err != nil {
		return err
	}
	ctl.stamped[key] = now
	return nil
}

// driverOf finds the driver Pod of an executor in the informer's cache, by
// application id.
func (ctl *Controller) driverOf(p *sparkPod) *sparkPod {
	id := p.AppID
	if id == "" {
		return nil
	}
	for _, inf := range ctl.pods {
		objs, _ := inf.GetIndexer().ByIndex(byAppID, p.Namespace+"/"+id)
		for _, o := range objs {
			if d := podOf(o); d != nil && d.Role == rule.RoleDriver {
				return d
			}
		}
	}
	return nil
}

// appOfDriver is the target cleanup is given for a driver: its
// SparkApplication when one of an operator the tool reads controls it, so
// that the operator's state is what says the application ended, else the
// Pod (cleanup then finds the SparkApplication that owns it, if any).
func appOfDriver(p *sparkPod) App {
	if p.App != "" {
		return App{Namespace: p.Namespace, SparkApp: p.App, Operator: p.Operator}
	}
	return App{Namespace: p.Namespace, DriverPod: p.Name}
}

// controllingApp is the owner reference to a SparkApplication, of an
// operator the tool reads, that controls a Pod, and that operator; nil
// when there is none.
func controllingApp(refs []metav1.OwnerReference) (*metav1.OwnerReference, string) {
	for i, ref := range refs {
		group, _, _ := strings.Cut(ref.APIVersion, "/")
		if op := hook.OperatorOfGroup(group); ref.Kind == "SparkApplication" && op != "" && ref.Controller != nil && *ref.Controller {
			return &refs[i], op
		}
	}
	return nil, ""
}

// appChanged queues a SparkApplication that has just reached a state the
// rule counts as final (rule.SparkApp.Terminal): the cleanup then judges
// it on a fresh read. Other changes queue nothing: the cleanup would find
// the application running.
func (ctl *Controller) appChanged(operator string, oldObj, obj any) {
	old, ok1 := oldObj.(*unstructured.Unstructured)
	u, ok2 := obj.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return
	}
	was, now := rule.ParseSparkApp(old), rule.ParseSparkApp(u)
	if now.Terminal() && (!was.Terminal() || was.State != now.State) {
		ctl.enqueue(App{Namespace: u.GetNamespace(), SparkApp: u.GetName(), Operator: operator})
	}
}

// appAdded queues a SparkApplication first seen in a final state after
// the informers' first list: it ended while the watch was broken (a
// relist after an expired watch or an API server restart shows it so).
// Those of the first list are the fallback sweep's, as the maps of any
// application that ended while no controller watched.
func (ctl *Controller) appAdded(operator string, obj any, initial bool) {
	if u, ok := obj.(*unstructured.Unstructured); ok && !initial && rule.ParseSparkApp(u).Terminal() {
		ctl.enqueue(App{Namespace: u.GetNamespace(), SparkApp: u.GetName(), Operator: operator})
	}
}

func (ctl *Controller) appDeleted(operator string, obj any) {
	if m, err := metaOf(obj); err == nil {
		ctl.enqueue(App{Namespace: m.GetNamespace(), SparkApp: m.GetName(), Operator: operator})
	}
}

func (ctl *Controller) enqueue(a App) {
	ctl.log.Debug("application ended; cleaning it after the grace", "app", a.String(), "grace", ctl.o.Grace)
	ctl.m.sawEnd(a)
	ctl.queue.AddAfter(a, ctl.o.Grace)
}

// work cleans queued applications until ctx ends.
func (ctl *Controller) work(ctx context.Context) {
	for {
		a, shutdown := ctl.queue.Get()
		if shutdown {
			return
		}
		ctl.clean(ctx, a)
		ctl.queue.Done(a)
	}
}

// clean runs exactly hook.Cleanup for the application. An application
// still running is dropped: its next change queues it again. A failed
// cleanup is retried with backoff, a few times, then left to the fallback
// sweep; a refused one (RBAC, a bad target) is not retried.
func (ctl *Controller) clean(ctx context.Context, a App) {
	if ctx.Err() != nil {
		return // no longer leading: the next leader's informers see the application
	}
	mark := ctl.m.mark()
	res, err := hook.Cleanup(ctx, ctl.c, ctl.log, a.cleanupOptions(&ctl.o))
	ctl.m.count("cleanup", res, nil, err)
	ctl.m.cleaned(a, res, err)
	ctl.mu.Lock()
	ctl.add(res)
	if ctl.o.Cleaned != nil {
		ctl.o.Cleaned(a, res, err)
	}
	ctl.mu.Unlock()
	var (
		running   *hook.StillRunningError
		usage     *hook.UsageError
		forbidden *hook.ForbiddenError
	)
	switch {
	case err == nil:
		ctl.queue.Forget(a)
	case errors.As(err, &running):
		ctl.log.Debug("still running; waiting for its next change", "app", a.String(), "state", running.State)
		ctl.queue.Forget(a)
		ctl.m.forget(a, mark)
	case errors.As(err, &usage), errors.As(err, &forbidden):
		ctl.log.Warn("cleanup refused; left to the fallback sweep", "app", a.String(), "err", err)
		ctl.queue.Forget(a)
	case ctx.Err() != nil:
		ctl.queue.Forget(a)
	case ctl.queue.NumRequeues(a) >= maxRequeues:
		ctl.log.Warn("cleanup failed again; left to the fallback sweep", "app", a.String(), "err", err)
		ctl.queue.Forget(a)
	default:
		ctl.log.Info("cleanup failed; retrying", "app", a.String(), "err", err)
		ctl.queue.AddRateLimited(a)
	}
}

// add counts a run's result in the total (ctl.mu held).
func (ctl *Controller) add(r *hook.Result) {
	if r == nil {
		return
	}
	ctl.total.Counts.Deleted += r.Counts.Deleted
	ctl.total.Counts.Skipped += r.Counts.Skipped
	ctl.total.Counts.Failed += r.Counts.Failed
	ctl.total.Retries += r.Retries
	ctl.total.Throttled += r.Throttled
	for _, id := range r.AppIDs {
		ctl.seenID[id] = true
	}
}

// sweepEvery runs the fallback sweep every ResyncPeriod until ctx ends.
func (ctl *Controller) sweepEvery(ctx context.Context) {
	t := time.NewTicker(ctl.o.ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ctl.sweep(ctx)
		}
	}
}

// sweep runs hook.Sweep once over the controller's namespaces.
func (ctl *Controller) sweep(ctx context.Context) {
	o := ctl.o.sweepOptions()
	// Counts only: a long-running process must not keep every entry. The
	// counts reach the metrics when the sweep returns.
	t := tally{}
	o.Record = t.add
	res, err := hook.Sweep(ctx, ctl.c, ctl.log, o)
	if err != nil && ctx.Err() == nil {
		ctl.log.Warn("fallback sweep failed", "err", err)
	}
	ctl.m.count("sweep", res, t, err)
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	ctl.add(res)
	if ctl.o.Swept != nil {
		ctl.o.Swept(res, err)
	}
}
