package hook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// CleanupOptions says which application to clean up and how.
type CleanupOptions struct {
	Namespace string
	// Exactly one target: the SparkApplication, the driver Pod, or the
	// Spark application id. The tool resolves the rest.
	SparkApp  string
	DriverPod string
	AppID     string
	// Operator, when set (OperatorKubeflow or OperatorApache), says whose
	// SparkApplication the target is; SparkApp may say it too, qualified
	// as sparkapplications.<group>/NAME. With both operators' CRDs
	// installed and an application of the name in each group, one of
	// them must say it: the tool never guesses.
	Operator string

	DryRun bool
	// Wait, when positive, waits (by watching) up to this long for a live
	// application to finish before cleaning up. Zero returns
	// *StillRunningError at once.
	Wait time.Duration
	// DriverContainer, when set, counts the driver as finished once that
	// container has terminated, even while a sidecar keeps its Pod running.
	DriverContainer string
	// Concurrency bounds deletes in flight (default 8).
	Concurrency int
	// Retry bounds retries of each API call.
	Retry RetryPolicy
	// NoEvent turns off the summary Event.
	NoEvent bool

	// stoppedAt is when the sidecar was told to stop (see rule.View.StoppedAt).
	stoppedAt time.Time
}

func (o *CleanupOptions) validate() error {
	if err := ValidateNamespace(o.Namespace); err != nil {
		return err
	}
	n := 0
	for _, t := range []string{o.SparkApp, o.DriverPod, o.AppID} {
		if t != "" {
			n++
		}
	}
	if n != 1 {
		return Usagef("give exactly one target: a SparkApplication, a driver Pod or a Spark application id")
	}
	name, op, err := ParseSparkAppTarget(o.SparkApp, o.Operator)
	if err != nil {
		return err
	}
	o.SparkApp, o.Operator = name, op
	switch {
	case o.SparkApp != "":
		return nil
	case o.DriverPod != "":
		return ValidateObjectName("driver Pod name", o.DriverPod)
	default:
		return ValidateAppID(o.AppID)
	}
}

func (o *CleanupOptions) target() string {
	switch {
	case o.SparkApp != "":
		return "SparkApplication " + o.SparkApp
	case o.DriverPod != "":
		return "driver Pod " + o.DriverPod
	default:
		return "application id " + o.AppID
	}
}

// cleaner carries one cleanup's clients and options.
type cleaner struct {
	c   Clients
	log *slog.Logger
	o   CleanupOptions
	// unreadable is why SparkApplications could not be read though their
	// CRD is installed; the maps they own are then kept.
	unreadable error
	// appGroup is the API group of the SparkApplication the target
	// resolved to: which operator's it is, for every later read of it.
	appGroup string
}

// Cleanup deletes exactly one finished Spark application's ConfigMaps: the
// ones Spark or the Spark Operator generated for it (see judge), that no
// non-terminated Pod uses. It validates the target before any API call. It
// returns the Result also with an error, one of the typed errors
// *UsageError, *ForbiddenError, *StillRunningError, *PartialFailureError, or
// a plain failure.
func Cleanup(ctx context.Context, c Clients, log *slog.Logger, o CleanupOptions) (*Result, error) {
	start, counted := time.Now(), c.Throttle.Counts()
	res := &Result{Namespace: o.Namespace, DryRun: o.DryRun}
	defer func() { res.Elapsed = time.Since(start); res.countRetries(c.Throttle, counted); res.normalize() }()
	if err := o.validate(); err != nil {
		return res, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultCleanupConcurrency
	}
	o.Retry = o.Retry.WithDefaults()
	o.Retry.Readiness = c.readiness
	// One budget for the whole cleanup, every retry drawing from it, plus
	// the time the caller allowed for waiting.
	ctx, cancel := context.WithTimeout(ctx, o.Retry.Budget+max(o.Wait, 0))
	defer cancel()
	cl := &cleaner{c: c, log: log.With("namespace", o.Namespace, "target", o.target()), o: o}

	app, candidates, index, podsAt, err := cl.settle(ctx, res)
	if err != nil {
		return res, err
	}
	var toDelete []Entry
	for _, m := range candidates {
		e := Entry{Namespace: m.Namespace, Name: m.Name, UID: string(m.UID), resourceVersion: m.ResourceVersion,
			AppID: firstNonEmpty(m.Labels[rule.LabelAppSelector], strings.Join(res.AppIDs, ","))}
		kind, reason := app.Judge(&m.ObjectMeta)
		e.Kind = kind
		if !reason.Keeps() {
			reason, _ = app.RetainHold(c.Clock.Now(), false)
		}
		if !reason.Keeps() {
			if users := index.UsedBy(m.Namespace, m.Name); len(users) > 0 {
				reason = rule.UsedByReason(users)
			}
		}
		if reason.Keeps() {
			e.skip(reason)
			res.add(e)
			continue
		}
		toDelete = append(toDelete, e)
	}
	toDelete, err = cl.appStillFinished(ctx, app, toDelete, podsAt, res)
	if err != nil {
		sortEntries(res)
		return res, err
	}
	d := &deleter{api: c.api(), log: cl.log, retry: o.Retry, concurrency: o.Concurrency, dryRun: o.DryRun,
		recheck: cl.recheckOne(app), bound: DefaultRecheckBound}
	d.deleteAll(ctx, toDelete, res.add)
	err = d.forbidden()
	sortEntries(res)
	cl.log.Info("cleanup finished", "appIds", res.AppIDs, "deleted", len(res.Deleted), "skipped", len(res.Skipped), "failed", len(res.Failed), "dryRun", o.DryRun)
	if !o.NoEvent && !o.DryRun {
		cl.recordEvent(ctx, app, res)
	}
	if err != nil {
		return res, err
	}
	if len(res.Failed) > 0 {
		return res, &PartialFailureError{Failed: len(res.Failed)}
	}
	return res, nil
}

// settle resolves the application, waits for it (or returns
// *StillRunningError) while it is live, and reads its candidate maps and
// the Pods that use maps, and when that read of the Pods began. Where an owner is matched by name because it is
// gone, the owners are read once more after the maps: a new object under
// that name created meanwhile would otherwise pass for the gone one.
func (cl *cleaner) settle(ctx context.Context, res *Result) (*rule.View, []metav1.PartialObjectMetadata, rule.RefIndex, time.Time, error) {
	app, err := cl.resolve(ctx)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return nil, nil, nil, time.Time{}, err
		}
		res.AppIDs = app.SortedIDs()
		if isLive, why := app.Live(); isLive {
			if cl.o.Wait <= 0 || app.EndedAfterStop() {
				return nil, nil, nil, time.Time{}, &StillRunningError{Namespace: cl.o.Namespace, App: cl.o.target(), State: why}
			}
			cl.log.Info("application still running, waiting for it to finish", "reason", why, "wait", cl.o.Wait)
			if app, err = cl.waitFinished(ctx, cl.o.Wait); err != nil {
				return nil, nil, nil, time.Time{}, err
			}
			res.AppIDs = app.SortedIDs()
		}
		candidates, err := cl.discover(ctx, app)
		if err != nil {
			return nil, nil, nil, time.Time{}, err
		}
		if app.MatchesByName() {
			again, err := cl.resolve(ctx)
			if err != nil {
				return nil, nil, nil, time.Time{}, err
			}
			if !sameIdentity(app, again) {
				if attempt == 2 {
					return nil, nil, nil, time.Time{}, &StillRunningError{Namespace: cl.o.Namespace, App: cl.o.target(), State: "its driver Pod or SparkApplication keeps being replaced"}
				}
				cl.log.Info("an object of the same name appeared while the maps were read; resolving again")
				app = again
				continue
			}
		}
		index, at, err := cl.inUse(ctx, app)
		if err != nil {
			return nil, nil, nil, time.Time{}, err
		}
		return app, candidates, index, at, nil
	}
}

// sameIdentity says whether two reads of an application found the same
// objects (by UID), and the same ones gone.
func sameIdentity(a, b *rule.View) bool {
	return a.DriverUID == b.DriverUID && a.DriverGone == b.DriverGone && a.AppUID == b.AppUID && a.AppGone == b.AppGone &&
		(a.App == nil) == (b.App == nil) && (a.Driver == nil) == (b.Driver == nil)
}

// resolve turns the one target the caller gave into everything known about
// the application: ids, driver Pod (or that it is gone), SparkApplication,
// and its Pods that have not terminated.
func (cl *cleaner) resolve(ctx context.Context) (*rule.View, error) {
	o := cl.o
	app := rule.NewView(o.Namespace)
	app.DriverContainer, app.StoppedAt = o.DriverContainer, o.stoppedAt
	switch {
	case o.SparkApp != "":
		sa, err := cl.getSparkApp(ctx, o.SparkApp)
		if err != nil {
			return nil, err
		}
		driver := o.SparkApp + "-driver" // the Spark Operator's default driver name
		if sa != nil {
			app.SetApp(sa)
			if sa.DriverPod != "" {
				driver = sa.DriverPod
			}
		} else {
			app.AppName, app.AppGone, app.AppGroup = o.SparkApp, true, cl.appGroup
		}
		if err := cl.resolveDriver(ctx, app, driver, false); err != nil {
			return nil, err
		}
	case o.DriverPod != "":
		if err := cl.resolveDriver(ctx, app, o.DriverPod, true); err != nil {
			return nil, err
		}
	default:
		app.AddID(o.AppID)
		sel, err := driverSelector(o.AppID)
		if err != nil {
			return nil, err
		}
		var pods *corev1.PodList
		err = cl.call(ctx, "list driver pods", "list", "", "pods", func(ctx context.Context) error {
			var err error
			pods, err = cl.c.api().ListPods(ctx, o.Namespace, metav1.ListOptions{LabelSelector: sel.String()})
			return err
		})
		if err != nil {
			return nil, err
		}
		switch len(pods.Items) {
		case 0:
			// Driver gone, or never in the cluster (client mode): look for
			// a SparkApplication that reported this id.
			if err := cl.findSparkAppByID(ctx, app, o.AppID); err != nil {
				return nil, err
			}
			if app.App != nil && app.App.DriverPod != "" {
				app.DriverName, app.DriverGone = app.App.DriverPod, true
			}
		case 1:
			if err := cl.adoptDriver(ctx, app, &pods.Items[0]); err != nil {
				return nil, err
			}
		default:
			return nil, Usagef("application id %s has %d driver Pods; name the driver Pod instead", o.AppID, len(pods.Items))
		}
	}
	if err := cl.findLivePods(ctx, app); err != nil {
		return nil, err
	}
	if cl.unreadable != nil {
		app.AppsUnreadable = cl.unreadable.Error()
	}
	return app, nil
}

// findLivePods lists the application's Pods that have not terminated, by
// its ids, filtered on the server. For a client-mode application they are
// all the cluster ever shows of it.
func (cl *cleaner) findLivePods(ctx context.Context, app *rule.View) error {
	ids := app.SortedIDs()
	if len(ids) == 0 {
		return nil
	}
	sel, err := appsSelector(ids)
	if err != nil {
		return err
	}
	var pods *corev1.PodList
	err = cl.call(ctx, "list the application's pods", "list", "", "pods", func(ctx context.Context) error {
		var err error
		pods, err = cl.c.api().ListPods(ctx, cl.o.Namespace, metav1.ListOptions{LabelSelector: sel.String(), FieldSelector: nonTerminatedPods})
		return err
	})
	if err != nil {
		return err
	}
	app.LivePods = app.LivePods[:0]
	for i := range pods.Items {
		if p := &pods.Items[i]; !rule.PodTerminated(p) && !app.Exempt(p) {
			app.LivePods = append(app.LivePods, p.Name)
		}
	}
	return nil
}

// resolveDriver reads the driver Pod by name. When it is gone, maps owned by
// a Pod of that name are matched by name; with fromUser the SparkApplication
// is looked for under the operator's naming (<app>-driver).
func (cl *cleaner) resolveDriver(ctx context.Context, app *rule.View, name string, fromUser bool) error {
	var pod *corev1.Pod
	err := cl.call(ctx, "get pod "+name, "get", "", "pods", func(ctx context.Context) error {
		var err error
		pod, err = cl.c.api().GetPod(ctx, cl.o.Namespace, name)
		return err
	})
	if kube.IsNotFound(err) {
		app.DriverName, app.DriverGone = name, true
		if fromUser && app.App == nil {
			return cl.driverNamedFor(ctx, app, name)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return cl.adoptDriver(ctx, app, pod)
}

// driverNamedFor looks, for a driver Pod that is gone, for the
// SparkApplication whose driver it was by each operator's naming: the
// Kubeflow operator's <app>-driver, the Apache operator's
// <app>-<attempt>-driver.
func (cl *cleaner) driverNamedFor(ctx context.Context, app *rule.View, name string) error {
	base, ok := strings.CutSuffix(name, "-driver")
	if !ok || base == "" {
		return nil
	}
	candidates := [][2]string{{sparkOperatorAPI.Group, base}}
	if i := strings.LastIndexByte(base, '-'); i > 0 && isDigits(base[i+1:]) {
		candidates = append(candidates, [2]string{ApacheSparkGroup, base[:i]})
	}
	for _, c := range candidates {
		if cl.o.Operator != "" && OperatorOfGroup(c[0]) != cl.o.Operator {
			continue
		}
		sa, err := cl.getSparkAppIn(ctx, c[0], c[1])
		if err != nil {
			return err
		}
		switch {
		case sa == nil:
		case sa.DriverPod == name && app.App == nil:
			app.SetApp(sa)
			cl.appGroup = c[0]
		case sa.DriverPod == name:
			return &AmbiguousAppError{Namespace: cl.o.Namespace, Name: sa.Name}
		case sa.DriverPod == "" && !sa.Terminal():
			// An application of that name that has not started its
			// driver yet may name it exactly so.
			app.Blocker = fmt.Sprintf("SparkApplication %s, whose driver may be %s, is %s", sa.Name, name, rule.StateOf(sa))
		}
	}
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// adoptDriver checks that a Pod is a Spark driver and records it, with the
// SparkApplication that owns it. A Pod that another application left under
// the expected name is not adopted, and keeps everything while it runs.
func (cl *cleaner) adoptDriver(ctx context.Context, app *rule.View, pod *corev1.Pod) error {
	if pod.Labels[rule.LabelRole] != rule.RoleDriver {
		return Usagef("pod %s/%s is not a Spark driver (it has no label %s=%s)", pod.Namespace, pod.Name, rule.LabelRole, rule.RoleDriver)
	}
	ref := sparkAppOwner(pod)
	if app.App != nil || app.AppGone {
		// The SparkApplication was named by the caller: the Pod must be
		// its driver, by UID where the application is known.
		if ref == nil || ref.Name != app.AppName || (app.AppUID != "" && ref.UID != app.AppUID) || (cl.appGroup != "" && groupOf(ref.APIVersion) != cl.appGroup) {
			if !rule.PodTerminated(pod) {
				app.Blocker = fmt.Sprintf("Pod %s of the same name, another application's driver, is %s", pod.Name, rule.PhaseOf(pod))
			}
			app.DriverName, app.DriverGone = "", false
			return nil
		}
		app.SetDriver(pod)
		if app.AppUID == "" {
			app.AppUID = ref.UID // gone, but now known by its UID
		}
		return nil
	}
	app.SetDriver(pod)
	if ref == nil {
		return nil
	}
	if op := OperatorOfGroup(groupOf(ref.APIVersion)); cl.o.Operator != "" && op != cl.o.Operator {
		return Usagef("pod %s/%s belongs to the %s operator's SparkApplication %s, not to the %s operator's", pod.Namespace, pod.Name, op, ref.Name, cl.o.Operator)
	}
	cl.appGroup = groupOf(ref.APIVersion)
	sa, err := cl.getSparkAppIn(ctx, cl.appGroup, ref.Name)
	if err != nil {
		return err
	}
	if sa != nil && sa.UID == ref.UID {
		app.SetApp(sa)
		return nil
	}
	// The driver's SparkApplication is gone: its maps are matched by its
	// UID, never by its name, which a new application may have taken.
	app.AppName, app.AppUID, app.AppGone = ref.Name, ref.UID, true
	if sa != nil && !sa.Terminal() {
		app.Blocker = fmt.Sprintf("a new SparkApplication %s of the same name is %s", sa.Name, rule.StateOf(sa))
	}
	return nil
}

// sparkAppOwner is a Pod's ownerReference to a SparkApplication of either
// operator, if any.
func sparkAppOwner(pod *corev1.Pod) *metav1.OwnerReference {
	for i, ref := range pod.OwnerReferences {
		if ref.Kind == "SparkApplication" && OperatorOfGroup(groupOf(ref.APIVersion)) != "" {
			return &pod.OwnerReferences[i]
		}
	}
	return nil
}

// getSparkApp reads the SparkApplication the user named: in the group
// --operator (or a qualified name) said, else in each group the API server
// serves. A name found in both groups is an *AmbiguousAppError: the tool
// never guesses which application is meant. nil when it (or its CRD) is
// absent.
func (cl *cleaner) getSparkApp(ctx context.Context, name string) (*rule.SparkApp, error) {
	var found []*rule.SparkApp
	var groups []string
	for _, op := range []string{OperatorKubeflow, OperatorApache} {
		if cl.o.Operator != "" && cl.o.Operator != op {
			continue
		}
		g := operatorGroups[op].Group
		sa, err := cl.getSparkAppIn(ctx, g, name)
		if err != nil {
			return nil, err
		}
		if sa != nil {
			found, groups = append(found, sa), append(groups, g)
		}
	}
	switch len(found) {
	case 0:
		if cl.o.Operator != "" {
			cl.appGroup = operatorGroups[cl.o.Operator].Group
		}
		return nil, nil
	case 1:
		cl.appGroup = groups[0]
		return found[0], nil
	}
	return nil, &AmbiguousAppError{Namespace: cl.o.Namespace, Name: name}
}

// getSparkAppIn reads a SparkApplication of one group; nil when it (or its
// CRD) is absent.
func (cl *cleaner) getSparkAppIn(ctx context.Context, group, name string) (*rule.SparkApp, error) {
	api := sparkOperatorAPI
	if group == ApacheSparkGroup {
		api = apacheAppsAPI
	}
	gvr, served, err := appResource(ctx, cl.c, group)
	if err != nil {
		cl.noteUnreadable(err)
		return nil, nil
	}
	if !served {
		return nil, nil
	}
	var u *unstructured.Unstructured
	err = cl.call(ctx, "get sparkapplication "+name, "get", gvr.Group, gvr.Resource, func(ctx context.Context) error {
		var err error
		u, err = cl.c.api().GetApp(ctx, gvr, cl.o.Namespace, name)
		return err
	})
	if answered404(err) {
		cl.noteUnreadable(appsMissingIn(ctx, cl.c, api, err, name))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return rule.ParseSparkApp(u), nil
}

// noteUnreadable keeps the first reason SparkApplications could not be
// read, and logs it once.
func (cl *cleaner) noteUnreadable(err error) {
	if err == nil || cl.unreadable != nil {
		return
	}
	cl.unreadable = err
	cl.log.Warn("SparkApplications cannot be read; the maps they own are kept", "err", kube.OneLineErr(err))
}

// findSparkAppByID looks for the SparkApplication whose status names the
// id, in every group the API server serves (or the one the user named).
// Without a CRD there is none to find.
func (cl *cleaner) findSparkAppByID(ctx context.Context, app *rule.View, id string) error {
	for _, op := range []string{OperatorKubeflow, OperatorApache} {
		if cl.o.Operator != "" && cl.o.Operator != op {
			continue
		}
		api := operatorGroups[op]
		gvr, served, err := appResource(ctx, cl.c, api.Group)
		if err != nil {
			cl.noteUnreadable(err)
			continue
		}
		if !served {
			continue
		}
		var list *unstructured.UnstructuredList
		err = cl.call(ctx, "list "+gvr.Resource+"."+gvr.Group, "list", gvr.Group, gvr.Resource, func(ctx context.Context) error {
			var err error
			list, err = cl.c.api().ListApps(ctx, gvr, cl.o.Namespace, metav1.ListOptions{})
			return err
		})
		if answered404(err) {
			cl.noteUnreadable(appsMissingIn(ctx, cl.c, api, err, ""))
			continue
		}
		if err != nil {
			return err
		}
		for i := range list.Items {
			if sa := rule.ParseSparkApp(&list.Items[i]); sa.AppID == id {
				app.SetApp(sa)
				cl.appGroup = api.Group
				return nil
			}
		}
	}
	return nil
}

// discover reads the metadata of every map that may be the application's:
// those labelled with its id, those its driver Pod mounts, the operator's
// <app>-prom-conf, and, when the driver Pod or SparkApplication is gone,
// those whose ownerReferences name it. ConfigMap data never crosses the wire.
func (cl *cleaner) discover(ctx context.Context, app *rule.View) ([]metav1.PartialObjectMetadata, error) {
	ns := cl.o.Namespace
	found := map[string]metav1.PartialObjectMetadata{}
	keep := func(m metav1.PartialObjectMetadata) { found[string(m.UID)] = m }
	api := cl.c.api()

	getMap := func(name string) error {
		var m *metav1.PartialObjectMetadata
		err := cl.call(ctx, "get configmap "+name, "get", "", "configmaps", func(ctx context.Context) error {
			var err error
			m, err = api.GetMap(ctx, ns, name)
			return err
		})
		if kube.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		keep(*m)
		return nil
	}

	if app.Driver != nil {
		for _, name := range rule.PodConfigMapRefs(app.Driver) {
			if err := getMap(name); err != nil {
				return nil, err
			}
		}
	}
	if app.AppName != "" {
		if err := getMap(app.AppName + "-prom-conf"); err != nil {
			return nil, err
		}
	}
	if (app.DriverGone && app.DriverName != "") || (app.AppGone && app.AppName != "") {
		// Nothing but a full pass can find maps by their owner's name; this
		// happens only once the owner is already gone.
		byOwner := map[string]metav1.PartialObjectMetadata{}
		err := listPaged(ctx, listSpec{
			log: cl.log, retry: cl.o.Retry, ns: ns, what: "list configmaps", verb: "list", resrc: "configmaps",
			list: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				return api.ListMaps(ctx, ns, opts)
			},
			reset: func() { clear(byOwner) },
			each: func(obj runtime.Object) error {
				m := obj.(*metav1.PartialObjectMetadata)
				for _, ref := range m.OwnerReferences {
					if (app.DriverGone && ref.Kind == "Pod" && ref.Name == app.DriverName) ||
						(app.AppGone && ref.Kind == "SparkApplication" && ref.Name == app.AppName) {
						byOwner[string(m.UID)] = *m
						if id := m.Labels[rule.LabelAppSelector]; id != "" && ref.Kind == "Pod" && app.IsDriverRef(ref) {
							// An executor map owned by the gone driver names
							// the application id, which finds the
							// application's ownerless maps too.
							app.AddID(id)
						}
					}
				}
				return nil
			},
		})
		if err != nil {
			return nil, err
		}
		for _, m := range byOwner {
			keep(m)
		}
	}
	for _, id := range app.SortedIDs() {
		sel, err := appSelector(id)
		if err != nil {
			return nil, err
		}
		var list *metav1.PartialObjectMetadataList
		err = cl.call(ctx, "list configmaps by label", "list", "", "configmaps", func(ctx context.Context) error {
			var err error
			list, err = api.ListMaps(ctx, ns, metav1.ListOptions{LabelSelector: sel.String()})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, m := range list.Items {
			keep(m)
		}
	}
	out := make([]metav1.PartialObjectMetadata, 0, len(found))
	for _, m := range found {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// inUse indexes the ConfigMaps used by every non-terminated Pod in the
// namespace, in one request whatever the namespace holds: terminated Pods are
// filtered out on the server. The application's own finished driver (sidecar
// mode) does not count. The same read is the last look at the application's
// own Pods: one that has not terminated makes it live after all. at is when
// the read that answered was sent.
func (cl *cleaner) inUse(ctx context.Context, app *rule.View) (rule.RefIndex, time.Time, error) {
	var (
		pods  *corev1.PodList
		began time.Time
	)
	m := &sendMark{now: cl.o.Retry.Clock.Now}
	err := cl.call(ctx, "list pods", "list", "", "pods", func(ctx context.Context) error {
		began = cl.o.Retry.Clock.Now()
		var err error
		pods, err = cl.c.api().ListPods(withSendMark(ctx, m), cl.o.Namespace, metav1.ListOptions{FieldSelector: nonTerminatedPods})
		return err
	})
	at := m.last(began)
	if err != nil {
		return nil, at, err
	}
	ix := rule.RefIndex{}
	var live []string
	for i := range pods.Items {
		p := &pods.Items[i]
		ix.Add(p, app.Exempt)
		if id := p.Labels[rule.LabelAppSelector]; id != "" && app.IDs[id] && !rule.PodTerminated(p) && !app.Exempt(p) {
			live = append(live, p.Name)
		}
	}
	if len(live) > 0 {
		// A Pod of the application started since it was judged finished
		// (a client-mode driver asked for an executor): nothing goes.
		return nil, at, &StillRunningError{Namespace: cl.o.Namespace, App: cl.o.target(),
			State: fmt.Sprintf("Pod %s of %s=%s has not terminated", strings.Join(live, ", "), rule.LabelAppSelector, strings.Join(app.SortedIDs(), ","))}
	}
	return ix, at, nil
}

// appStillFinished reads the SparkApplication (by UID) once more just
// before its maps are deleted: it was read when the target was resolved,
// and the operator may have run it again since (a spec edit, a submission
// retried). While it is live, every map to delete is kept, with why. The
// rest are returned, each with when the reads it rests on began.
func (cl *cleaner) appStillFinished(ctx context.Context, app *rule.View, toDelete []Entry, podsAt time.Time, res *Result) ([]Entry, error) {
	at := podsAt
	if len(toDelete) > 0 && app.StateMatters() {
		why, appAt, err := readAppLive(ctx, cl.c, cl.log, cl.o.Retry, cl.appGroup, cl.o.Namespace, app.App.Name, app.App.UID)
		if err != nil {
			return nil, err
		}
		if why.Keeps() {
			for _, e := range toDelete {
				e.skip(why)
				res.add(e)
			}
			return nil, nil
		}
		at = earliest(at, appAt)
	}
	for i := range toDelete {
		toDelete[i].checkedAt = at
	}
	return toDelete, nil
}

// recheckOne reads again, for a delete that waited past the bound, the
// namespace's Pods and the SparkApplication. Reads that began within half
// the bound are shared among the deletes waiting at the same time.
func (cl *cleaner) recheckOne(app *rule.View) recheckFunc {
	var (
		podReads freshReads[rule.RefIndex]
		appReads freshReads[rule.Reason]
	)
	return func(ctx context.Context, e Entry) (rule.Reason, time.Time, error) {
		notBefore := cl.o.Retry.Clock.Now().Add(-DefaultRecheckBound / 2)
		// Both at once: the delete is bounded by the older of the two reads.
		var (
			wg     sync.WaitGroup
			why    rule.Reason
			appAt  time.Time
			appErr error
		)
		if app.StateMatters() {
			wg.Go(func() {
				why, appAt, appErr = appReads.get(ctx, "", notBefore, func(ctx context.Context) (rule.Reason, time.Time, error) {
					return readAppLive(ctx, cl.c, cl.log, cl.o.Retry, cl.appGroup, cl.o.Namespace, app.App.Name, app.App.UID)
				})
			})
		}
		index, at, err := podReads.get(ctx, "", notBefore, func(ctx context.Context) (rule.RefIndex, time.Time, error) {
			return cl.inUse(ctx, app)
		})
		wg.Wait()
		var still *StillRunningError
		switch {
		case errors.As(err, &still):
			return rule.Running(still.State), at, nil
		case err != nil:
			return rule.Reason{}, at, err
		case len(index.UsedBy(e.Namespace, e.Name)) > 0:
			return rule.UsedByReason(index.UsedBy(e.Namespace, e.Name)), at, nil
		case appErr != nil:
			return rule.Reason{}, at, appErr
		case why.Keeps():
			return why, at, nil
		}
		return rule.Reason{}, earliest(at, appAt), nil
	}
}

// call runs one read with retry and turns a 403 into a *ForbiddenError.
func (cl *cleaner) call(ctx context.Context, what, verb, group, resource string, op func(context.Context) error) error {
	return kube.CallAPI(ctx, cl.log, cl.o.Retry, cl.o.Namespace, what, verb, group, resource, op)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func sortEntries(r *Result) {
	for _, l := range [][]Entry{r.Deleted, r.Skipped, r.Failed} {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Namespace != l[j].Namespace {
				return l[i].Namespace < l[j].Namespace
			}
			return l[i].Name < l[j].Name
		})
	}
}
