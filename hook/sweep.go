package hook

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// SweepOptions configures the TTL fallback over whole namespaces.
type SweepOptions struct {
	// Namespace to sweep, or every namespace with AllNamespaces.
	Namespace     string
	AllNamespaces bool
	// Namespaces, when given instead of Namespace, are swept one after
	// the other.
	Namespaces []string
	// ExcludeNamespaces, with AllNamespaces: ConfigMaps there are never
	// listed, judged or deleted.
	ExcludeNamespaces []string
	// OlderThan: only maps at least this old, of applications that ended
	// at least this long ago (where the end is known).
	OlderThan time.Duration
	// OrphanOlderThan bounds ownerless executor maps (client mode, Spark
	// 3.1.0/3.1.1): the map and every Pod of its application must have been
	// quiet this long (default DefaultOrphanOlderThan, never shorter than
	// OlderThan).
	OrphanOlderThan time.Duration
	DryRun          bool
	// Concurrency bounds deletes in flight (default 32).
	Concurrency int
	// BatchSize is how many deletions share one fresh read of the Pods
	// that use maps (default 500): use is re-checked just before each batch.
	BatchSize int
	// PageSize is the list page size (default 500).
	PageSize int64
	// Retry bounds retries of each API call.
	Retry RetryPolicy
	// Progress, when set, is called after each map is decided with the
	// numbers decided and deleted so far (the total is not known until the
	// list ends: maps are judged page by page as they arrive).
	Progress func(decided, deleted int)
	// Record, when set, receives every map's entry as soon as it is
	// decided (never concurrently, in no particular order), and the Result
	// keeps only the counts: memory then does not grow with the number of
	// maps. Without it the Result lists every entry.
	Record func(Entry)
	// Now is the clock for ages (default: the API server's, learnt from
	// its answers; the local one with fake clients).
	Now func() time.Time

	// userMapSeen, when set, is told of every map a SparkApplication names
	// as user-supplied that sweep passes over without judging (it bears no
	// sign of Spark): the report counts them, sweep never considers them.
	userMapSeen func(ns, name, source string)
	// NoEvent turns off the summary Events (one per namespace swept).
	NoEvent bool
}

// Validate checks the options as Sweep does, without any API call.
func (o *SweepOptions) Validate() error {
	if o.AllNamespaces && (o.Namespace != "" || len(o.Namespaces) > 0) {
		return Usagef("give a namespace or all namespaces, not both")
	}
	if o.Namespace != "" && len(o.Namespaces) > 0 {
		return Usagef("give one namespace or several, not both")
	}
	if len(o.ExcludeNamespaces) > 0 && !o.AllNamespaces {
		return Usagef("namespaces are excluded only from a sweep of all namespaces")
	}
	for _, ns := range o.ExcludeNamespaces {
		if err := ValidateNamespace(ns); err != nil {
			return err
		}
	}
	if !o.AllNamespaces && len(o.Namespaces) == 0 {
		if err := ValidateNamespace(o.Namespace); err != nil {
			return err
		}
	}
	for _, ns := range o.Namespaces {
		if err := ValidateNamespace(ns); err != nil {
			return err
		}
	}
	if o.OlderThan < 0 {
		return Usagef("the minimum age must not be negative")
	}
	if o.OrphanOlderThan != 0 && o.OrphanOlderThan < o.OlderThan {
		return Usagef("the minimum age of ownerless maps (%s) must not be shorter than the minimum age (%s)", o.OrphanOlderThan, o.OlderThan)
	}
	return nil
}

// sweepIndex is what one sweep knows about the namespaces it sweeps.
type sweepIndex struct {
	appsRV     string // the resourceVersion the SparkApplications were read at
	appsUnread string // why SparkApplications could not be read, though their CRD is installed
	// apacheUnread is the same for the Apache operator's applications,
	// whose maps alone it keeps; apacheGVR is the resource they were read
	// in, and appGroup the API group of every application read, by UID.
	apacheUnread string
	apacheGVR    schema.GroupVersionResource
	appGroup     map[types.UID]string
	appsByUID    map[types.UID]*rule.SparkApp
	appsByName   map[string]*rule.SparkApp // ns/group/name
	appsByID     map[string]*rule.SparkApp // ns/app id
	// podsByUID and podsByName hold the driver Pods (label spark-role:
	// driver), the only Pods whose fields judging reads; otherPods the
	// UIDs of every other Pod (a map they own is kept: it has another
	// owner), each with whether an Apache operator SparkApplication owns
	// it (apacheChain). Executors are most of a cluster's Spark Pods, and
	// a corev1.Pod is 1.2 KiB before its labels and states.
	podsByUID   map[types.UID]*corev1.Pod
	podsByName  map[string]*corev1.Pod // ns/name
	otherPods   map[types.UID]bool
	driversByID map[string]*corev1.Pod    // ns/app id
	activity    map[string]*rule.Activity // ns/app id: what its Pods show
	executing   map[string]bool           // ns/app id: an executor Pod of it has not terminated
	userMaps    map[string]string         // ns/map name: where a SparkApplication names it as user-supplied
}

// Sweep finds and deletes, across a namespace (or all of them), every map
// that Spark generated for an application that has finished or is gone,
// with the same judge and exclusions as Cleanup. The owners (Pods and
// SparkApplications) are read first; then ConfigMaps are listed as
// metadata, page by page, each map judged as its page arrives, and the
// deletes run in batches behind the list. Memory grows with the number of
// Pods and SparkApplications and the page size, not with the number of
// maps (with Record set).
//
// With AllNamespaces the cluster is read in one pass; where the caller may
// not list cluster-wide, namespace by namespace, and a namespace that
// cannot be read is reported (Result.Unreadable) and skipped.
func Sweep(ctx context.Context, c Clients, log *slog.Logger, o SweepOptions) (*Result, error) {
	start, counted := time.Now(), c.Throttle.Counts()
	res := &Result{Namespace: o.Namespace, DryRun: o.DryRun}
	defer func() { res.Elapsed = time.Since(start); res.countRetries(c.Throttle, counted); res.normalize() }()
	if err := o.Validate(); err != nil {
		return res, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultSweepConcurrency
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultSweepBatchSize
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.OrphanOlderThan == 0 {
		o.OrphanOlderThan = max(DefaultOrphanOlderThan, o.OlderThan)
	}
	if o.Now == nil {
		o.Now = c.Clock.Now
	}
	o.Retry = o.Retry.WithDefaults()
	o.Retry.Readiness = c.readiness
	s := &sweeper{c: c, log: log.With("namespace", nsLabel(o.Namespace)), o: o, res: res}
	s.d = &deleter{api: c.api(), log: s.log, retry: o.Retry, concurrency: o.Concurrency, dryRun: o.DryRun,
		recheck: s.recheckOne, bound: DefaultRecheckBound}

	var err error
	switch {
	case o.AllNamespaces:
		s.log = log.With("namespace", nsLabel(metav1.NamespaceAll))
		s.d.log = s.log
		err = s.sweepAll(ctx)
	case len(o.Namespaces) > 0:
		res.Namespace = strings.Join(o.Namespaces, ",")
		for _, ns := range o.Namespaces {
			s.log = log.With("namespace", ns)
			s.d.log = s.log
			if err = s.sweepScope(ctx, ns); err != nil {
				break
			}
		}
	default:
		err = s.sweepScope(ctx, o.Namespace)
	}
	// The ids are kept whether or not the entries are: a set of
	// application ids grows with the applications, not with the maps, and
	// every summary (json, yaml, text, the log) names them.
	res.AppIDs = rule.SortedKeys(s.ids)
	if s.keepEntries() {
		sortEntries(res)
	}
	if err != nil && res.Counts.total() == 0 {
		return res, err // nothing was considered: the error is the whole story
	}
	if !o.NoEvent && !o.DryRun {
		s.recordEvents(ctx)
	}
	s.log.Info("sweep finished", "applications", len(res.AppIDs), "deleted", res.Counts.Deleted, "skipped", res.Counts.Skipped, "failed", res.Counts.Failed,
		"unreadableNamespaces", len(res.Unreadable), "dryRun", o.DryRun)
	if err != nil {
		return res, err
	}
	if fe := s.d.forbidden(); fe != nil && (!o.AllNamespaces || res.Counts.Deleted == 0) {
		return res, fe
	}
	if res.Counts.Failed > 0 {
		return res, &PartialFailureError{Failed: res.Counts.Failed}
	}
	return res, nil
}

// sweepAll sweeps every namespace: in one pass when the caller may list
// cluster-wide, else namespace by namespace.
func (s *sweeper) sweepAll(ctx context.Context) error {
	err := s.sweepScope(ctx, metav1.NamespaceAll)
	var fe *ForbiddenError
	if !errors.As(err, &fe) || fe.Verb != "list" || s.res.Counts.total() > 0 {
		return err
	}
	s.log.Info("may not list cluster-wide; sweeping namespace by namespace", "err", kube.OneLineErr(err))
	names, err := s.namespaceNames(ctx, s.o.Retry)
	if err != nil {
		return err
	}
	var firstForbidden error
	swept := 0
	for _, ns := range names {
		err := s.sweepScope(ctx, ns)
		if errors.As(err, &fe) && fe.Verb == "list" {
			// Reported and skipped: the rest of the cluster goes on.
			s.log.Warn("namespace cannot be read; skipped", "skippedNamespace", ns, "err", kube.OneLineErr(err))
			s.res.Unreadable = append(s.res.Unreadable, NamespaceNote{Namespace: ns, Reason: kube.OneLineErr(err)})
			if firstForbidden == nil {
				firstForbidden = err
			}
			continue
		}
		if err != nil {
			return err
		}
		swept++
	}
	if swept == 0 && firstForbidden != nil {
		return firstForbidden
	}
	return nil
}

// sweepScope sweeps one namespace, or the whole cluster with ns "".
func (s *sweeper) sweepScope(ctx context.Context, ns string) error {
	// The mark comes first: owners are read after it, so any map written
	// before it has its owner in the lists (or the owner is truly gone).
	mark, err := s.markMaps(ctx, ns)
	if err != nil {
		return err
	}
	ix, err := s.index(ctx, ns)
	if err != nil {
		return err
	}
	o := s.o
	ages := rule.AgeRule{Now: o.Now(), OlderThan: o.OlderThan, OrphanOlderThan: o.OrphanOlderThan}
	s.c.Clock.WarnSkew(s.log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	aw := s.watchApps(ctx, ns, ix.appsRV)
	defer aw.stop()
	// Deletes run behind the list, one batch at a time; the channel's
	// single slot bounds how far the list runs ahead.
	batches := make(chan []Entry, 1)
	deleterDone := make(chan error, 1)
	go func() { deleterDone <- s.deleteBatches(ctx, ns, aw, batches, cancel) }()

	var batch []Entry
	ignored, spark := 0, 0
	resumeAfter, last := "", ""
	listErr := listPaged(ctx, listSpec{
		log: s.log, retry: o.Retry, ns: ns, what: "list configmaps", verb: "list", resrc: "configmaps", pageSize: o.PageSize,
		list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = s.excludeSelector(ns)
			return s.c.api().ListMaps(ctx, ns, opts)
		},
		// A list that starts over (its continue token expired) comes in
		// the same key order: what was already judged is passed over, so
		// every map gets one record.
		reset: func() { resumeAfter = last },
		each: func(obj runtime.Object) error {
			m := obj.(*metav1.PartialObjectMetadata)
			key := rule.NsKey(m.Namespace, m.Name)
			if resumeAfter != "" && key <= resumeAfter {
				return nil
			}
			last = key
			if s.excluded(m.Namespace) {
				return nil // the server filters these out; a guard all the same
			}
			if !sparkSignal(&m.ObjectMeta) {
				if src := ix.userMaps[key]; src != "" && o.userMapSeen != nil {
					o.userMapSeen(m.Namespace, m.Name, src)
				}
				ignored++
				return nil
			}
			spark++
			s.stampIfExecuting(ctx, ix, &m.ObjectMeta, ages.Now)
			e := sweepVerdict(&m.ObjectMeta, ix.viewFor(&m.ObjectMeta), ix.activityFor(&m.ObjectMeta), ages, mark)
			e.appGroup = ix.appGroup[e.appUID]
			if e.origin.userSource == "" {
				e.origin.userSource = ix.userMaps[key]
			}
			if e.Decision == Skipped {
				s.record(e)
				return nil
			}
			batch = append(batch, e)
			if len(batch) == o.BatchSize {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = nil
			}
			return nil
		},
	})
	if listErr == nil && len(batch) > 0 {
		select {
		case batches <- batch:
			batch = nil
		case <-ctx.Done():
		}
	}
	close(batches)
	delErr := <-deleterDone
	if batch != nil {
		// Judged, never handed to the deleter: the run stopped.
		notAttempted(batch, firstErr(delErr, listErr, ctx.Err()), s.record)
	}
	s.log.Info("listed", "namespaceScope", nsLabel(ns), "sparkApplications", len(ix.appsByUID), "pods", len(ix.podsByUID)+len(ix.otherPods), "sparkConfigMaps", spark, "otherConfigMaps", ignored)
	if delErr != nil {
		return delErr
	}
	return listErr
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return context.Canceled
}

// deleteBatches re-checks each batch the list hands over and feeds it to
// one pool of deleters, which works on across batches: a delete waiting out
// a Retry-After does not hold up the next batch's re-check. Every entry it
// is given once the run cannot go on is recorded as not attempted. A
// refused delete (403) lets the list finish, so that the ledger still holds
// every map with its verdict; any other error stops it.
func (s *sweeper) deleteBatches(ctx context.Context, ns string, aw *appWatch, batches <-chan []Entry, stop func()) error {
	pool := s.d.startPool(ctx, s.record)
	var failed error
	refused := func() {
		if fe := s.d.forbidden(); failed == nil && fe != nil && !s.o.AllNamespaces {
			failed = fe
		}
	}
	for batch := range batches {
		refused()
		if failed != nil {
			notAttempted(batch, failed, s.record)
			continue
		}
		ready, err := s.recheck(ctx, ns, aw, batch, s.record)
		if err != nil {
			failed = err
			stop()
			continue
		}
		if rest := pool.feed(ctx, ready); len(rest) > 0 {
			notAttempted(rest, ctx.Err(), s.record)
		}
	}
	pool.close()
	refused()
	return failed
}

// record files one decided entry: with the caller's Record, or in the
// Result; and keeps the counts.
func (s *sweeper) record(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perNS == nil {
		s.perNS = map[string]*Counts{}
	}
	if s.perNS[e.Namespace] == nil {
		s.perNS[e.Namespace] = &Counts{}
	}
	s.perNS[e.Namespace].add(e)
	if e.Decision == Deleted || e.Decision == WouldDelete {
		if s.ids == nil {
			s.ids = map[string]bool{}
		}
		if e.AppID != "" {
			s.ids[e.AppID] = true
		}
	}
	if s.keepEntries() {
		s.res.add(e)
	} else {
		s.res.count(e)
		if e.Age > 0 {
			e.AgeText = e.Age.Round(time.Second).String()
		}
		s.o.Record(e)
	}
	if s.o.Progress != nil {
		s.o.Progress(s.res.Counts.total(), s.res.Counts.Deleted)
	}
}

func (s *sweeper) keepEntries() bool { return s.o.Record == nil }

// recheck reads, just before a batch is deleted, what may have changed
// since the maps were judged: the Pods that use maps or belong to an
// application now (a Pod created since the first pass keeps its map and
// its application alive), and the SparkApplications whose finished state
// the judgement rested on (the operator reruns an application whose spec
// was edited, and submits again one whose submission failed with retries
// left). Entries that must stay are recorded; the rest returned, each with
// when the reads it rests on began. When the re-read fails, the whole
// batch is recorded as not attempted.
func (s *sweeper) recheck(ctx context.Context, ns string, aw *appWatch, batch []Entry, record func(Entry)) ([]Entry, error) {
	used, live, podsAt, err := s.inUseFor(ctx, ns, batch)
	if err == nil {
		var apps map[string]appRead
		if apps, err = s.appsLiveNow(ctx, aw, batch); err == nil {
			ready := s.sortOut(batch, used, live, apps, record)
			for i := range ready {
				ready[i].checkedAt = earliest(podsAt, apps[rule.NsKey(ready[i].Namespace, ready[i].appName)].at)
			}
			return ready, nil
		}
	}
	notAttempted(batch, err, record)
	return nil, err
}

// recheckOne reads again, for one delete that waited past the bound, the
// Pods of its namespace and its application's state. Reads that began
// within half the bound are shared: the deletes that woke from one
// Retry-After together wait for one read.
func (s *sweeper) recheckOne(ctx context.Context, e Entry) (rule.Reason, time.Time, error) {
	notBefore := s.o.Retry.Clock.Now().Add(-s.d.bound / 2)
	// Both at once: the delete is bounded by the older of the two reads.
	var (
		wg     sync.WaitGroup
		app    rule.Reason
		appAt  time.Time
		appErr error
	)
	if e.appName != "" {
		wg.Go(func() {
			app, appAt, appErr = s.appReads.get(ctx, rule.NsKey(e.Namespace, e.appName)+"/"+string(e.appUID), notBefore, func(ctx context.Context) (rule.Reason, time.Time, error) {
				return readAppLive(ctx, s.c, s.log, s.o.Retry, e.appGroup, e.Namespace, e.appName, e.appUID)
			})
		})
	}
	pods, at, err := s.podReads.get(ctx, e.Namespace, notBefore, func(ctx context.Context) (podsInUse, time.Time, error) {
		used, live, at, err := s.inUse(ctx, e.Namespace)
		return podsInUse{used, live}, at, err
	})
	wg.Wait()
	if err != nil {
		return rule.Reason{}, at, err
	}
	if busy := busyNow(e, pods.used, pods.live); busy.Keeps() {
		return busy, at, nil
	}
	switch {
	case appErr != nil:
		return rule.Reason{}, at, appErr
	case app.Keeps():
		return app, at, nil
	}
	return rule.Reason{}, earliest(at, appAt), nil
}

// podsInUse is one read of a namespace's non-terminated Pods: the maps they
// use and the application ids they run (see inUse).
type podsInUse struct {
	used rule.RefIndex
	live map[string][]string
}

// appRead is one answer about an application: why it is live now ("" when
// it is not), and when the read that answered began (zero when the watch
// answered).
type appRead struct {
	why rule.Reason
	at  time.Time
}

// sortOut records the entries that must stay after the re-check and
// returns the rest.
func (s *sweeper) sortOut(batch []Entry, used rule.RefIndex, live map[string][]string, apps map[string]appRead, record func(Entry)) []Entry {
	var ready []Entry
	for _, e := range batch {
		reason := busyNow(e, used, live)
		if why := apps[rule.NsKey(e.Namespace, e.appName)].why; !reason.Keeps() && e.appName != "" && why.Keeps() {
			reason = why
		}
		if reason.Keeps() {
			e.skip(reason)
			record(e)
			continue
		}
		ready = append(ready, e)
	}
	return ready
}

// appsLiveNow tells, for every SparkApplication whose finished state a
// judgement in the batch rested on, why it is live now ("" when it is
// not), by ns/name. The watch that follows them can only tell that one is
// live: it may not yet have delivered a change the API server already
// stored, so every application it does not know live is read again, at
// most Concurrency at a time.
func (s *sweeper) appsLiveNow(ctx context.Context, aw *appWatch, batch []Entry) (map[string]appRead, error) {
	type app struct {
		ns, name, group string
		uid             types.UID
	}
	var todo []app
	out := map[string]appRead{}
	for _, e := range batch {
		key := rule.NsKey(e.Namespace, e.appName)
		if _, seen := out[key]; e.appName == "" || seen {
			continue
		}
		why, _ := aw.liveNow(e.appUID)
		out[key] = appRead{why: rule.Running(why)}
		if why == "" {
			todo = append(todo, app{e.Namespace, e.appName, e.appGroup, e.appUID})
		}
	}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan app)
	)
	for range min(max(s.o.Concurrency, 1), len(todo)) {
		wg.Go(func() {
			for a := range next {
				why, at, err := readAppLive(ctx, s.c, s.log, s.o.Retry, a.group, a.ns, a.name, a.uid)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[rule.NsKey(a.ns, a.name)] = appRead{why: why, at: at}
				mu.Unlock()
			}
		})
	}
	for _, a := range todo {
		next <- a
	}
	close(next)
	wg.Wait()
	return out, firstErr
}

// busyNow is the re-check's verdict from a fresh read of the Pods that
// have not terminated (see Busy).
func busyNow(e Entry, used rule.RefIndex, live map[string][]string) rule.Reason {
	return rule.Busy(e.Namespace, e.Name, e.appIDs, used, live)
}

// notAttempted records entries a stopped run never got to, with why.
func notAttempted(entries []Entry, cause error, record func(Entry)) {
	for _, e := range entries {
		e.Decision = Failed
		e.Reason = "not attempted: " + kube.OneLineErr(cause)
		record(e)
	}
}

// stampIfExecuting stamps an ownerless executor map whose application has
// an executor running now (StampLastActive), so that a later sweep, after
// Spark deleted the executors, still counts the application's quiet time
// from now. A dry run (and so report) writes nothing. A failed stamp is
// logged and changes nothing else: the map is kept this time anyway, its
// application being live.
func (s *sweeper) stampIfExecuting(ctx context.Context, ix *sweepIndex, m *metav1.ObjectMeta, now time.Time) {
	if s.o.DryRun || !ix.executing[rule.NsKey(m.Namespace, m.Labels[rule.LabelAppSelector])] {
		return
	}
	if _, err := StampLastActive(ctx, s.c, s.log, m, now); err != nil {
		s.log.Warn("could not stamp the client-mode application's executor map as active", "configmap", m.Name, "err", err)
	}
}

// sweepVerdict is sweep's whole rule for one map (see Verdict), as a
// ledger entry: Skipped with the reason, or undecided (to delete) with what
// the re-check before its batch needs.
func sweepVerdict(m *metav1.ObjectMeta, app *rule.View, act *rule.Activity, ages rule.AgeRule, mark rule.Mark) Entry {
	e := Entry{Namespace: m.Namespace, Name: m.Name, UID: string(m.UID), resourceVersion: m.ResourceVersion, AppID: m.Labels[rule.LabelAppSelector]}
	var reason rule.Reason
	e.Kind, e.Age, reason = rule.Verdict(m, app, act, ages, mark)
	e.origin = originOf(m, app)
	e.origin.age = ages.Now.Sub(m.CreationTimestamp.Time)
	if app != nil {
		if e.AppID == "" {
			e.AppID = firstNonEmpty(app.SortedIDs()...)
		}
		e.appIDs = app.SortedIDs()
		if app.App != nil && app.StateMatters() {
			// The re-check reads the application again only where its
			// state is part of the verdict: not for an earlier attempt's
			// maps, which the current attempt's state says nothing of.
			e.appName, e.appUID = app.App.Name, app.App.UID
		}
	}
	if reason.Keeps() {
		e.skip(reason)
	} else if app != nil {
		// Deleted against the user's retain choice: the ledger says so.
		_, e.Reason = app.RetainHold(ages.Now, true)
	}
	return e
}

type sweeper struct {
	c   Clients
	log *slog.Logger
	o   SweepOptions
	d   *deleter

	mu  sync.Mutex // guards res, ids and perNS: the list and the deleter both record
	res *Result
	ids map[string]bool
	// perNS counts the decisions in each namespace, for its summary Event.
	perNS map[string]*Counts

	// The re-reads of deletes that waited past the bound, shared.
	podReads freshReads[podsInUse]
	appReads freshReads[rule.Reason]
}

// excluded says whether a namespace is one of ExcludeNamespaces.
// namespaceNames lists the names of the namespaces not excluded, for a
// sweep (or a report) that may not list cluster-wide and goes namespace
// by namespace.
func (s *sweeper) namespaceNames(ctx context.Context, retry RetryPolicy) ([]string, error) {
	var names []string
	err := listPaged(ctx, listSpec{
		log: s.log, retry: retry, what: "list namespaces", verb: "list", resrc: "namespaces", pageSize: s.o.PageSize,
		list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return s.c.api().ListNamespaces(ctx, opts)
		},
		each: func(obj runtime.Object) error {
			if name := obj.(*metav1.PartialObjectMetadata).Name; !s.excluded(name) {
				names = append(names, name)
			}
			return nil
		},
		reset: func() { names = names[:0] },
	})
	return names, err
}

func (s *sweeper) excluded(ns string) bool { return slices.Contains(s.o.ExcludeNamespaces, ns) }

// excludeSelector keeps ExcludeNamespaces out of a cluster-wide list, on
// the server.
func (s *sweeper) excludeSelector(ns string) string {
	if ns != metav1.NamespaceAll || len(s.o.ExcludeNamespaces) == 0 {
		return ""
	}
	parts := make([]string, 0, len(s.o.ExcludeNamespaces))
	for _, ex := range s.o.ExcludeNamespaces {
		parts = append(parts, fields.OneTermNotEqualSelector("metadata.namespace", ex).String())
	}
	return strings.Join(parts, ",")
}

func nsLabel(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

const sparkAppPageSize = 100

// index reads every SparkApplication and every Pod once, page by page,
// keeping only what judging needs.
func (s *sweeper) index(ctx context.Context, ns string) (*sweepIndex, error) {
	ix := &sweepIndex{
		appsByUID: map[types.UID]*rule.SparkApp{}, appsByName: map[string]*rule.SparkApp{}, appsByID: map[string]*rule.SparkApp{},
		podsByUID: map[types.UID]*corev1.Pod{}, podsByName: map[string]*corev1.Pod{}, otherPods: map[types.UID]bool{}, driversByID: map[string]*corev1.Pod{},
		activity: map[string]*rule.Activity{}, executing: map[string]bool{}, userMaps: map[string]string{}, appGroup: map[types.UID]string{},
	}
	api := s.c.api()
	err := s.paged(ctx, ns, "list sparkapplications", "list", store.SparkApplicationGVR.Group, store.SparkApplicationGVR.Resource,
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			// A SparkApplication decodes into a generic map many times its
			// size on the wire; smaller pages keep that bounded.
			opts.Limit = min(opts.Limit, sparkAppPageSize)
			l, err := api.ListApps(ctx, store.SparkApplicationGVR, ns, opts)
			if err == nil && opts.Continue == "" {
				ix.appsRV = l.GetResourceVersion() // every page of one list is read at the first page's
			}
			return l, err
		},
		ix.addApp, func() {
			clear(ix.appsByUID)
			clear(ix.appsByName)
			clear(ix.appsByID)
			clear(ix.userMaps)
			clear(ix.appGroup)
		})
	if answered404(err) {
		if uerr := sparkAppsMissing(ctx, s.c, err, ""); uerr != nil {
			// Installed, but not in a version the tool reads: every map
			// a SparkApplication owns stays, the rest are judged as ever.
			s.log.Warn("SparkApplications cannot be read; the maps they own are kept", "err", kube.OneLineErr(uerr))
			ix.appsUnread = uerr.Error()
		} else {
			// No Spark Operator CRD: plain spark-submit applications only.
			s.log.Debug("no SparkApplication resource on this cluster")
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.indexApache(ctx, ns, ix); err != nil {
		return nil, err
	}
	err = s.paged(ctx, ns, "list pods", "list", "", "pods",
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return api.ListPods(ctx, ns, opts)
		},
		func(obj runtime.Object) {
			p := trimPod(obj.(*corev1.Pod))
			if p.Labels[rule.LabelRole] == rule.RoleDriver {
				ix.podsByUID[p.UID] = p
				ix.podsByName[rule.NsKey(p.Namespace, p.Name)] = p
			} else {
				ix.otherPods[p.UID] = apacheOwned(p.OwnerReferences)
			}
			if id := p.Labels[rule.LabelAppSelector]; id != "" {
				if p.Labels[rule.LabelRole] == rule.RoleDriver {
					ix.driversByID[rule.NsKey(p.Namespace, id)] = p
				}
				act := ix.activity[rule.NsKey(p.Namespace, id)]
				if act == nil {
					act = &rule.Activity{}
					ix.activity[rule.NsKey(p.Namespace, id)] = act
				}
				act.AddPod(p)
				if p.Labels[rule.LabelRole] == rule.RoleExecutor && !rule.PodTerminated(p) {
					ix.executing[rule.NsKey(p.Namespace, id)] = true
				}
			}
		}, func() {
			clear(ix.podsByUID)
			clear(ix.podsByName)
			clear(ix.otherPods)
			clear(ix.driversByID)
			clear(ix.activity)
			clear(ix.executing)
		})
	if err != nil {
		return nil, err
	}
	return ix, nil
}

// addApp indexes one SparkApplication of either operator.
func (ix *sweepIndex) addApp(obj runtime.Object) {
	u := obj.(*unstructured.Unstructured)
	a := rule.ParseSparkApp(u)
	ix.appsByUID[a.UID] = a
	ix.appGroup[a.UID] = groupOf(u.GetAPIVersion())
	ix.appsByName[rule.NsKey(u.GetNamespace(), groupOf(u.GetAPIVersion())+"/"+a.Name)] = a
	if a.AppID != "" {
		ix.appsByID[rule.NsKey(u.GetNamespace(), a.AppID)] = a
	}
	for name, src := range a.UserMaps {
		ix.userMaps[rule.NsKey(u.GetNamespace(), name)] = src
	}
}

// indexApache reads the Apache operator's SparkApplications, where its CRD
// is installed, into the same index. Where they cannot be read (served in
// no version the tool reads, or not allowed: the chart grants them only
// behind a value), the maps of those applications are kept, with why, and
// the rest of the sweep goes on.
func (s *sweeper) indexApache(ctx context.Context, ns string, ix *sweepIndex) error {
	gvr, ok, err := apacheResource(ctx, s.c)
	if err != nil {
		s.log.Warn("the Apache operator's SparkApplications cannot be read; the maps they own are kept", "err", kube.OneLineErr(err))
		ix.apacheUnread = err.Error()
		return nil
	}
	if !ok {
		return nil
	}
	ix.apacheGVR = gvr
	api := s.c.api()
	start := map[types.UID]bool{}
	for uid := range ix.appsByUID {
		start[uid] = true
	}
	err = s.paged(ctx, ns, "list "+gvr.Resource+"."+gvr.Group, "list", gvr.Group, gvr.Resource,
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.Limit = min(opts.Limit, sparkAppPageSize)
			return api.ListApps(ctx, gvr, ns, opts)
		},
		ix.addApp, func() {
			// A list that starts over drops only this group's applications.
			for uid, g := range ix.appGroup {
				if g == ApacheSparkGroup && !start[uid] {
					delete(ix.appsByUID, uid)
					delete(ix.appGroup, uid)
				}
			}
		})
	var fe *ForbiddenError
	switch {
	case answered404(err):
		if uerr := appsMissingIn(ctx, s.c, apacheAppsAPI, err, ""); uerr != nil {
			ix.apacheUnread = uerr.Error()
		}
		return nil
	case errors.As(err, &fe):
		s.log.Warn("not allowed to list the Apache operator's SparkApplications; the maps they own are kept", "err", kube.OneLineErr(err))
		ix.apacheUnread = kube.OneLineErr(err)
		return nil
	}
	return err
}

// trimPod keeps what judging a driver needs, so a page of full Pods is not
// held in memory.
func trimPod(p *corev1.Pod) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, Labels: p.Labels,
			OwnerReferences: p.OwnerReferences, DeletionTimestamp: p.DeletionTimestamp, CreationTimestamp: p.CreationTimestamp},
		Status: corev1.PodStatus{Phase: p.Status.Phase, ContainerStatuses: p.Status.ContainerStatuses, InitContainerStatuses: p.Status.InitContainerStatuses},
	}
}

func sparkSignal(m *metav1.ObjectMeta) bool {
	if rule.KindOf(m.Name) != rule.KindNotGenerated {
		return true
	}
	if _, ok := m.Labels[rule.LabelAppSelector]; ok {
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
// label, or says why it cannot be judged. An owner that is not in the
// index is gone (the map was written before the owners were read; sweep
// checks that with its snapshot mark) and is matched by its UID.
func (ix *sweepIndex) viewFor(m *metav1.ObjectMeta) *rule.View {
	a := rule.NewView(m.Namespace)
	a.AppsUnreadable = ix.appsUnread
	label := m.Labels[rule.LabelAppSelector]
	for _, ref := range m.OwnerReferences {
		switch {
		case ref.Kind == "Pod" && ref.APIVersion == "v1":
			if _, ok := ix.otherPods[ref.UID]; ok {
				// Not a Spark driver: judge finds no owner of this
				// application and keeps the map ("has another owner").
				continue
			}
			if p, ok := ix.podsByUID[ref.UID]; ok {
				a.SetDriver(p)
				ix.addOwningApp(a, p)
			} else {
				// The owner is gone; the garbage collector has not (yet)
				// removed what it owned.
				a.DriverName, a.DriverUID, a.DriverGone = ref.Name, ref.UID, true
				a.AddID(label)
				if sa, ok := ix.appsByID[rule.NsKey(m.Namespace, label)]; ok && label != "" {
					a.SetApp(sa)
				}
			}
		case ref.Kind == "SparkApplication":
			if sa, ok := ix.appsByUID[ref.UID]; ok {
				a.SetApp(sa)
				if p, ok := ix.podsByName[rule.NsKey(m.Namespace, sa.DriverPod)]; ok && sa.DriverPod != "" && ownedByUID(p.OwnerReferences, sa.UID) {
					a.Driver = p // for liveness only; ownership stays with the map's own refs
				}
			} else {
				a.AppName, a.AppUID, a.AppGone = ref.Name, ref.UID, true
			}
		}
	}
	if rule.Ownerless(m) && label != "" {
		a.AddID(label)
		if p, ok := ix.driversByID[rule.NsKey(m.Namespace, label)]; ok {
			a.Driver = p // liveness only: an ownerless map is matched by its label
		}
		if sa, ok := ix.appsByID[rule.NsKey(m.Namespace, label)]; ok {
			a.App = sa
		}
	}
	for _, id := range a.SortedIDs() {
		if act := ix.activity[rule.NsKey(m.Namespace, id)]; act != nil {
			a.LivePods = append(a.LivePods, act.Live...)
		}
	}
	if a.AppsUnreadable == "" && ix.apacheUnread != "" && ix.apacheChain(m) {
		a.AppsUnreadable = ix.apacheUnread
	}
	return a
}

// apacheChain says whether a map names an Apache operator SparkApplication
// as its owner, or is owned by a Pod that does.
func (ix *sweepIndex) apacheChain(m *metav1.ObjectMeta) bool {
	if apacheOwned(m.OwnerReferences) {
		return true
	}
	for _, ref := range m.OwnerReferences {
		if ref.Kind != "Pod" {
			continue
		}
		if p, ok := ix.podsByUID[ref.UID]; ok && apacheOwned(p.OwnerReferences) {
			return true
		}
		if ix.otherPods[ref.UID] {
			return true
		}
	}
	return false
}

// apacheOwned says whether refs name an Apache operator SparkApplication.
func apacheOwned(refs []metav1.OwnerReference) bool {
	for _, ref := range refs {
		if ref.Kind == apacheAppsAPI.Kind && groupOf(ref.APIVersion) == ApacheSparkGroup {
			return true
		}
	}
	return false
}

// activityFor is what the Pods labelled with a map's application id show.
func (ix *sweepIndex) activityFor(m *metav1.ObjectMeta) *rule.Activity {
	if id := m.Labels[rule.LabelAppSelector]; id != "" {
		return ix.activity[rule.NsKey(m.Namespace, id)]
	}
	return nil
}

// addOwningApp records the SparkApplication that owns a driver Pod: the
// one in the index with that UID, or, when it is gone, its UID to match.
func (ix *sweepIndex) addOwningApp(a *rule.View, p *corev1.Pod) {
	for _, ref := range p.OwnerReferences {
		if ref.Kind == "SparkApplication" {
			if sa, ok := ix.appsByUID[ref.UID]; ok {
				a.SetApp(sa)
			} else {
				a.AppName, a.AppUID, a.AppGone = ref.Name, ref.UID, true
			}
		}
	}
}

func ownedByUID(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// inUse reads the non-terminated Pods (terminated ones are filtered on the
// server) and indexes the maps they use, and which application ids they
// belong to (ns/id -> Pod names), and when the list that answered was
// sent.
func (s *sweeper) inUse(ctx context.Context, ns string) (rule.RefIndex, map[string][]string, time.Time, error) {
	ix := rule.RefIndex{}
	live := map[string][]string{}
	var (
		began time.Time
		first *sendMark
	)
	api := s.c.api()
	err := s.paged(ctx, ns, "list running pods", "list", "", "pods",
		func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = nonTerminatedPods
			if opts.Continue == "" {
				// Every page is read at the first page's resourceVersion.
				began, first = s.o.Retry.Clock.Now(), &sendMark{now: s.o.Retry.Clock.Now}
				return api.ListPods(withSendMark(ctx, first), ns, opts)
			}
			return api.ListPods(ctx, ns, opts)
		},
		func(obj runtime.Object) {
			p := obj.(*corev1.Pod)
			ix.Add(p, nil)
			if id := p.Labels[rule.LabelAppSelector]; id != "" && !rule.PodTerminated(p) {
				live[rule.NsKey(p.Namespace, id)] = append(live[rule.NsKey(p.Namespace, id)], p.Name)
			}
		},
		func() { clear(ix); clear(live) })
	if first == nil {
		return ix, live, began, err
	}
	return ix, live, first.last(began), err
}

// recheckNamespaces is the most namespaces whose Pods a re-check reads
// one namespace at a time; a batch spread over more reads every Pod once.
const recheckNamespaces = 16

// inUseFor reads the Pods the re-check of a batch needs. A sweep of all
// namespaces whose batch falls in a few namespaces reads only theirs: a Pod
// mounts only maps of its own namespace, and an application's Pods are
// keyed by namespace too. Reading every non-terminated Pod of the cluster
// before each batch of 500 costs as much as the batch's deletes once the
// cluster runs a few thousand Pods.
func (s *sweeper) inUseFor(ctx context.Context, ns string, batch []Entry) (rule.RefIndex, map[string][]string, time.Time, error) {
	if ns != "" {
		return s.inUse(ctx, ns)
	}
	seen := map[string]bool{}
	var nss []string
	for _, e := range batch {
		if !seen[e.Namespace] {
			seen[e.Namespace] = true
			nss = append(nss, e.Namespace)
		}
	}
	if len(nss) > recheckNamespaces {
		return s.inUse(ctx, "")
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		used     = rule.RefIndex{}
		live     = map[string][]string{}
		began    time.Time
	)
	for _, n := range nss {
		wg.Go(func() {
			u, l, at, err := s.inUse(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = cmp.Or(firstErr, err)
				return
			}
			maps.Copy(used, u)
			maps.Copy(live, l)
			began = earliest(began, at)
		})
	}
	wg.Wait()
	return used, live, began, firstErr
}

// paged lists page by page, each page with its own retries; an expired
// list starts over after reset, so nothing is counted twice.
func (s *sweeper) paged(ctx context.Context, ns, what, verb, group, resource string,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error), each func(runtime.Object), reset func()) error {
	return listPaged(ctx, listSpec{
		log: s.log, retry: s.o.Retry, ns: ns, what: what, verb: verb, group: group, resrc: resource,
		pageSize: s.o.PageSize, list: list, reset: reset,
		each: func(obj runtime.Object) error { each(obj); return nil },
	})
}
