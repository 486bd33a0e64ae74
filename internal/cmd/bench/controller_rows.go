package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The controller (`sparkcm-hook controller`): how long an application's
// maps outlive it, beside the garbage collector's own time for the maps a
// deleted driver Pod owned; its memory while it watches a large
// namespace; its API requests per application against `cleanup`'s; and
// its idle memory against one sidecar per running driver.
const (
	rowLeak      = "leak-window"
	rowGCAnchor  = "gc-anchor"
	rowCtlMemory = "controller-memory"
	rowIdleCost  = "idle-cost"

	// leakTarget is the p99 the controller must keep the leak window to.
	leakTarget = 2 * time.Second
	// ctlMemoryTarget is its peak RSS bound (KiB).
	ctlMemoryTarget = 64 * 1024
	// settleAfter is how long the bench waits for the last map of the
	// last application before counting the rest as not cleaned.
	settleAfter = 60 * time.Second
	sidecarRuns = 3
)

var controllerRowNames = []string{rowLeak, rowGCAnchor, rowCtlMemory, rowIdleCost}

func init() { allRows = append(allRows, controllerRowNames...) }

// mainRows says whether any row outside the controller's is asked for.
func (o *options) mainRows() bool {
	for r := range o.rows {
		if !slices.Contains(controllerRowNames, r) {
			return true
		}
	}
	return false
}

// ctlReport is the controller's section of the report.
type ctlReport struct {
	rows []ctlRow
	// leak and gc are the leak windows of the controller and of the
	// garbage collector; notCleaned counts applications with a map left.
	leak, gc                   []time.Duration
	leakNotCleaned, gcNotClean int
	// memory is the controller's peak RSS over the large namespace (KiB).
	memory           int64
	memPods, memMaps int
	// requests per cleaned application: the controller's, and one
	// `cleanup --driver-pod` of the same kind of application.
	ctlRequests     float64
	cleanupRequests int
	cleanupVerbs    string
}

type ctlRow struct {
	what, run, scope, apps, p50, p99, rss, requests, notes string
}

// controllerRows runs the controller's rows on a control plane of their
// own: etcd and kube-apiserver only, until the garbage collector's row
// starts kube-controller-manager (nothing else then acts on the cluster
// while the controller is measured).
func (b *bench) controllerRows(ctx context.Context, rep *report, tmp string) error {
	o := b.o
	if !o.rows[rowLeak] && !o.rows[rowGCAnchor] && !o.rows[rowCtlMemory] && !o.rows[rowIdleCost] {
		return nil
	}
	cp, err := b.startControlPlane(ctx, tmp, kubecluster.Options{})
	if err != nil {
		return err
	}
	defer cp.Stop()
	cr := &ctlReport{}
	rep.ctl = cr
	if rep.loadBefore == "" {
		rep.loadBefore = loadavg()
	}
	var idle int64
	if o.rows[rowLeak] || o.rows[rowIdleCost] {
		if idle, err = b.leakWindow(ctx, tmp, cr); err != nil {
			return err
		}
	}
	if o.rows[rowIdleCost] {
		if err := b.idleCost(ctx, tmp, cr, idle); err != nil {
			return err
		}
	}
	if o.rows[rowGCAnchor] {
		b.logf("controller: starting kube-controller-manager (the garbage collector)")
		if err := cp.StartControllerManager(ctx); err != nil {
			return err
		}
		if err := b.gcAnchor(ctx, cr); err != nil {
			return err
		}
	}
	if o.rows[rowCtlMemory] {
		if err := b.controllerMemory(ctx, tmp, cr); err != nil {
			return err
		}
	}
	return nil
}

// startController runs `sparkcm-hook controller` over ns with its defaults
// (the default --grace: an application is cleaned that long after it is
// seen to end, as a deployed controller cleans it) and waits until
// its informers have synced and its first fallback sweep is done.
func (b *bench) startController(ctx context.Context, tmp, ns string) (*daemon, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	d, err := startDaemon(ctx, b.env(), tmp, "controller", addr, b.o.bin,
		"controller", "--kubeconfig", b.kubeconfig, "-n", ns, "--http-addr", addr, "-o", "json")
	if err != nil {
		return nil, 0, err
	}
	err = d.waitFor(ctx, 10*time.Minute, "/readyz 200 and the first sweep", func(ctx context.Context) (bool, error) {
		code, _, err := d.get(ctx, "/readyz")
		if err != nil || code != 200 {
			return false, err
		}
		// The first sweep runs before the workers; its counts appear when
		// it is done (its failed series too, at zero).
		_, swept, err := d.metric(ctx, "sparkcm_hook_configmaps_total", map[string]string{"run": "sweep", "decision": "failed"})
		return swept, err
	})
	if err != nil {
		d.stop()
		return nil, 0, err
	}
	return d, time.Since(d.started), nil
}

// leakApps makes n applications as spark-submit leaves them while they run
// (no SparkApplication; the driver Pod Running and owning the driver conf,
// executor conf, pod-template, Hadoop and krb5 maps), and returns them with
// their driver Pods as the API server holds them.
func (b *bench) leakApps(ctx context.Context, ns string, n int, state string) ([]*sparkfixture.App, map[string]*corev1.Pod, error) {
	if err := b.a.cp.CreateNamespace(ctx, ns); err != nil {
		return nil, nil, err
	}
	apps := make([]*sparkfixture.App, n)
	err := parallel(ctx, n, b.a.workers, func(ctx context.Context, i int) error {
		var err error
		apps[i], err = sparkfixture.Create(ctx, b.a.kube, b.a.dyn, ns, sparkfixture.Spec{Name: fmt.Sprintf("stream-%04d", i),
			NoSparkApplication: true, State: state, PodTemplate: true, Hadoop: true, Krb5: true})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	pods, err := b.a.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*corev1.Pod{}
	for i := range pods.Items {
		byName[pods.Items[i].Name] = &pods.Items[i]
	}
	return apps, byName, nil
}

// leakWindow measures, with the controller watching, the time from each
// driver Pod's termination to its application's last map gone, at
// --controller-rate applications ending a minute, and the controller's
// requests per application. It returns the controller's idle RSS (KiB),
// read once it had synced and swept, before any application ended.
func (b *bench) leakWindow(ctx context.Context, tmp string, cr *ctlReport) (int64, error) {
	o := b.o
	n := o.ctlApps
	if !o.rows[rowLeak] {
		n = 0 // the idle figure only
	}
	const ns = "controller-leak"
	b.logf("controller: %d running applications (5 maps each) in %s", n, ns)
	apps, pods, err := b.leakApps(ctx, ns, n, sparkfixture.StateRunning)
	if err != nil {
		return 0, err
	}
	if o.rows[rowLeak] {
		if err := b.cleanupRequests(ctx, cr); err != nil {
			return 0, err
		}
	}
	d, ready, err := b.startController(ctx, tmp, ns)
	if err != nil {
		return 0, err
	}
	defer d.stop()
	time.Sleep(3 * time.Second) // settled: nothing to do until an application ends
	idleHWM, idle, err := d.memory()
	if err != nil {
		return 0, err
	}
	b.logf("  controller ready in %s; idle RSS %s (peak so far %s)", ready.Round(time.Millisecond), mib(idle), mib(idleHWM))
	if n == 0 {
		return idle, nil
	}
	g, err := watchGone(ctx, b.a.metadata, ns)
	if err != nil {
		return 0, err
	}
	b.logf("controller: ending %d driver Pods, %d a minute (status Succeeded, a quarter Failed, through the status subresource)", n, o.ctlRate)
	var ended []time.Time
	reqs, err := b.count.measure(ctx, func() error {
		ended, err = endAtRate(ctx, n, o.ctlRate, func(ctx context.Context, i int) error {
			phase := corev1.PodSucceeded
			if i%4 == 3 {
				phase = corev1.PodFailed
			}
			return sparkfixture.SetPodPhaseFrom(ctx, b.a.kube, pods[apps[i].DriverPod], phase)
		})
		if err != nil {
			return err
		}
		if err := g.waitAll(ctx, mapNames(apps), ended[len(ended)-1].Add(settleAfter)); err != nil {
			return err
		}
		// Each cleanup records its Event after its deletes: wait until the
		// controller counted every application it cleaned.
		cleaned := float64(n - g.notGone(apps))
		return d.waitFor(ctx, 30*time.Second, "every cleaned application counted", func(ctx context.Context) (bool, error) {
			v, _, err := d.metric(ctx, "sparkcm_hook_applications_cleaned_total", nil)
			return v >= cleaned, err
		})
	})
	if err != nil {
		return 0, err
	}
	hwm, _, err := d.memory()
	if err != nil {
		return 0, err
	}
	histSum, _, _ := d.metric(ctx, "sparkcm_hook_leak_seconds_sum", nil)
	histCount, _, _ := d.metric(ctx, "sparkcm_hook_leak_seconds_count", nil)
	exit, _ := d.stop()
	leaks, notCleaned := leakWindows(ended, appMaps(apps), g.snapshot())
	cr.leak, cr.leakNotCleaned = leaks, notCleaned
	ctlReqs := excluding(reqs, podStatusUpdate)
	cleanedApps := n - notCleaned
	if cleanedApps > 0 {
		cr.ctlRequests = float64(ctlReqs.total) / float64(cleanedApps)
	}
	b.logf("  p50 %s, p99 %s, %d not cleaned; controller peak RSS %s, exit %d; requests %s (the bench's own: %d)",
		durPrec(percentile(leaks, 0.50)), durPrec(percentile(leaks, 0.99)), notCleaned, mib(hwm), exit, ctlReqs, reqs.total-ctlReqs.total)
	notes := fmt.Sprintf("%d a minute over %s; time from the driver Pod's status update returning to the DELETED event of its application's last map on the bench's watch; max %s; %d applications not cleaned within %s; the controller's own histogram (from the moment it saw the end): mean %s over %.0f; ready %s after start",
		o.ctlRate, dur(ended[len(ended)-1].Sub(ended[0])), durPrec(slices.Max(append([]time.Duration{0}, leaks...))), notCleaned, settleAfter,
		durPrec(time.Duration(histSum/math.Max(histCount, 1)*float64(time.Second))), histCount, dur(ready))
	cr.rows = append(cr.rows, ctlRow{
		what:     "leak window",
		run:      "`sparkcm-hook controller -n NS` (the binary, default --grace)",
		scope:    fmt.Sprintf("%d spark-submit applications (5 maps each) ending in one namespace", n),
		apps:     num(n),
		p50:      durPrec(percentile(leaks, 0.50)),
		p99:      durPrec(percentile(leaks, 0.99)),
		rss:      mib(hwm),
		requests: fmt.Sprintf("%.1f", cr.ctlRequests),
		notes:    notes + fmt.Sprintf("; requests: %d in the window after its informers' first LIST and WATCH, no WATCH counted (%s); `cleanup --driver-pod` of the same kind of application: %d (%s)", ctlReqs.total, verbs(ctlReqs), cr.cleanupRequests, cr.cleanupVerbs),
	})
	return idle, nil
}

// cleanupRequests counts what one `cleanup --driver-pod` of a finished
// application of the leak row's kind sends, on the same control plane.
func (b *bench) cleanupRequests(ctx context.Context, cr *ctlReport) error {
	const ns = "controller-cleanup"
	apps, _, err := b.leakApps(ctx, ns, 1, sparkfixture.StateCompleted)
	if err != nil {
		return err
	}
	p, reqs, err := b.measured(ctx, b.env(), b.o.bin, "cleanup", "--kubeconfig", b.kubeconfig, "-n", ns, "--driver-pod", apps[0].DriverPod, "-o", "json")
	if err != nil {
		return err
	}
	res, err := parseResult(p)
	if err != nil {
		return err
	}
	if p.exitCode != 0 || len(res.Deleted) != 5 {
		return fmt.Errorf("cleanup --driver-pod in %s: exit %d, %d deleted:\n%s", ns, p.exitCode, len(res.Deleted), tail(p.stderr, 20))
	}
	cr.cleanupRequests = reqs.total
	cr.cleanupVerbs = verbs(reqs)
	b.logf("controller: one cleanup --driver-pod of the same kind of application: requests %s", reqs)
	return nil
}

// gcAnchor measures the garbage collector's own time to remove the maps a
// deleted driver Pod owned, at the same rate and number as leakWindow.
func (b *bench) gcAnchor(ctx context.Context, cr *ctlReport) error {
	o := b.o
	const ns = "gc-anchor"
	// One application first, not measured: the garbage collector acts
	// only once its informers have synced.
	warm, _, err := b.leakApps(ctx, ns+"-warmup", 1, sparkfixture.StateCompleted)
	if err != nil {
		return err
	}
	gw, err := watchGone(ctx, b.a.metadata, ns+"-warmup")
	if err != nil {
		return err
	}
	if err := b.deleteDriver(ctx, warm[0]); err != nil {
		return err
	}
	if err := gw.waitAll(ctx, warm[0].MapNames(), time.Now().Add(2*time.Minute)); err != nil {
		return err
	}
	if left := gw.notGone(warm); left > 0 {
		return fmt.Errorf("the garbage collector did not remove a deleted driver Pod's maps within 2 minutes")
	}

	n := o.ctlApps
	b.logf("controller: %d finished applications in %s for the garbage collector", n, ns)
	apps, _, err := b.leakApps(ctx, ns, n, sparkfixture.StateCompleted)
	if err != nil {
		return err
	}
	g, err := watchGone(ctx, b.a.metadata, ns)
	if err != nil {
		return err
	}
	b.logf("controller: deleting %d driver Pods, %d a minute; the garbage collector removes their maps", n, o.ctlRate)
	ended, err := endAtRate(ctx, n, o.ctlRate, func(ctx context.Context, i int) error { return b.deleteDriver(ctx, apps[i]) })
	if err != nil {
		return err
	}
	if err := g.waitAll(ctx, mapNames(apps), ended[len(ended)-1].Add(settleAfter)); err != nil {
		return err
	}
	leaks, notCleaned := leakWindows(ended, appMaps(apps), g.snapshot())
	cr.gc, cr.gcNotClean = leaks, notCleaned
	b.logf("  p50 %s, p99 %s, %d not removed", durPrec(percentile(leaks, 0.50)), durPrec(percentile(leaks, 0.99)), notCleaned)
	cr.rows = append(cr.rows, ctlRow{
		what:     "garbage collector (anchor)",
		run:      "kube-controller-manager's garbage collector after `DELETE pod` (background propagation)",
		scope:    fmt.Sprintf("%d spark-submit applications (5 maps each, owned by the driver Pod) in one namespace", n),
		apps:     num(n),
		p50:      durPrec(percentile(leaks, 0.50)),
		p99:      durPrec(percentile(leaks, 0.99)),
		rss:      "-",
		requests: "-",
		notes: fmt.Sprintf("%d a minute; time from the driver Pod's DELETE returning to the DELETED event of its last map on the bench's watch; max %s; %d applications with a map left after %s",
			o.ctlRate, durPrec(slices.Max(append([]time.Duration{0}, leaks...))), notCleaned, settleAfter),
	})
	return nil
}

func (b *bench) deleteDriver(ctx context.Context, app *sparkfixture.App) error {
	err := b.a.kube.CoreV1().Pods(app.Namespace).Delete(ctx, app.DriverPod, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)), PropagationPolicy: ptr.To(metav1.DeletePropagationBackground),
		Preconditions: metav1.NewUIDPreconditions(string(app.DriverUID))})
	if err != nil {
		return fmt.Errorf("delete driver pod %s/%s: %w", app.Namespace, app.DriverPod, err)
	}
	return nil
}

// idleCost compares the controller's idle RSS with one `sparkcm-hook
// watch` sidecar per running driver.
func (b *bench) idleCost(ctx context.Context, tmp string, cr *ctlReport, ctlIdle int64) error {
	const ns = "sidecar-idle"
	apps, _, err := b.leakApps(ctx, ns, 1, sparkfixture.StateRunning)
	if err != nil {
		return err
	}
	var rss []int64
	for range sidecarRuns {
		d, err := startDaemon(ctx, b.env(), tmp, "watch", "", b.o.bin, "watch", "--kubeconfig", b.kubeconfig, "-n", ns, "--pod", apps[0].DriverPod)
		if err != nil {
			return err
		}
		time.Sleep(3 * time.Second) // connected, watching its Pod
		if err := d.running(); err != nil {
			return err
		}
		_, r, err := d.memory()
		d.stop()
		if err != nil {
			return err
		}
		rss = append(rss, r)
	}
	sorted := slices.Clone(rss)
	slices.Sort(sorted)
	sidecar := sorted[len(sorted)/2]
	n := b.o.sidecars
	b.logf("controller: idle RSS %s once for the cluster vs a watch sidecar's %s (runs: %s) x %d drivers = %s",
		mib(ctlIdle), mib(sidecar), mibs(rss), n, gib(sidecar*int64(n)))
	cr.rows = append(cr.rows, ctlRow{
		what:     "idle cost",
		run:      fmt.Sprintf("one controller vs one `sparkcm-hook watch` sidecar per running driver, %s drivers", num(n)),
		scope:    "idle: the controller synced and swept, watching the leak row's namespace before any application ended; each sidecar watching its Running driver Pod",
		apps:     "-",
		p50:      "-",
		p99:      "-",
		rss:      fmt.Sprintf("%s vs %s", mib(ctlIdle), gib(sidecar*int64(n))),
		requests: "-",
		notes: fmt.Sprintf("controller: %s once per cluster (VmRSS 3 s after it was ready); sidecar: %s each (median VmRSS of %d runs, 3 s after start: %s) x %s = %s",
			mib(ctlIdle), mib(sidecar), sidecarRuns, mibs(rss), num(n), gib(sidecar*int64(n))),
	})
	return nil
}

// controllerMemory measures the controller's peak RSS over a namespace of
// --controller-pods Spark Pods (applications of one driver and nine
// executors, all Running) and --controller-maps maps (each application's
// five, the rest small maps a fifth of which are Spark executor maps of
// other applications).
func (b *bench) controllerMemory(ctx context.Context, tmp string, cr *ctlReport) error {
	o := b.o
	const ns = "controller-memory"
	apps := o.ctlPods / 10
	others := o.ctlMaps - 5*apps
	t := time.Now()
	b.logf("controller: seeding %s: %d applications of 10 Running Pods and 5 maps, and %d other maps", ns, apps, others)
	if err := b.a.cp.CreateNamespace(ctx, ns); err != nil {
		return err
	}
	err := parallel(ctx, apps, b.a.workers, func(ctx context.Context, i int) error {
		_, err := sparkfixture.Create(ctx, b.a.kube, b.a.dyn, ns, sparkfixture.Spec{Name: fmt.Sprintf("etl-%05d", i), NoSparkApplication: true,
			State: sparkfixture.StateRunning, Executors: 9, PodTemplate: true, Hadoop: true, Krb5: true})
		return err
	})
	if err != nil {
		return err
	}
	err = parallel(ctx, others, b.a.workers, func(ctx context.Context, i int) error {
		cm := &corev1.ConfigMap{Data: map[string]string{"application.properties": "# setting = value\n"}}
		if i%5 == 0 {
			cm.Name = fmt.Sprintf("spark-exec-%016x-conf-map", rand.Uint64())
			cm.Labels = map[string]string{sparkfixture.LabelAppID: sparkfixture.NewAppID(), sparkfixture.LabelRole: sparkfixture.RoleExecutor}
		} else {
			cm.Name = fmt.Sprintf("service-config-%d", i)
		}
		if _, err := b.a.kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create configmap %s/%s: %w", ns, cm.Name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	seeded := time.Since(t)
	b.logf("  seeded in %s; starting the controller", seeded.Round(time.Second))
	d, ready, err := b.startController(ctx, tmp, ns)
	if err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	hwm, rss, err := d.memory()
	exit, _ := d.stop()
	if err != nil {
		return err
	}
	cr.memory, cr.memPods, cr.memMaps = hwm, 10*apps, o.ctlMaps
	b.logf("  ready and swept in %s; peak RSS %s, RSS %s; exit %d", ready.Round(time.Millisecond), mib(hwm), mib(rss), exit)
	cr.rows = append(cr.rows, ctlRow{
		what:     "memory",
		run:      "`sparkcm-hook controller -n NS` (the binary, default --grace)",
		scope:    fmt.Sprintf("%s Spark Pods (%s applications: a driver and 9 executors, Running) and %s maps in one namespace", num(10*apps), num(apps), num(o.ctlMaps)),
		apps:     "-",
		p50:      "-",
		p99:      "-",
		rss:      mib(hwm),
		requests: "-",
		notes: fmt.Sprintf("VmHWM after its informers synced and its first fallback sweep of the namespace ran (%s after start); VmRSS then %s; seeding took %s",
			dur(ready), mib(rss), dur(seeded)),
	})
	return nil
}

// gib writes a KiB count of a GiB or more in GiB.
func gib(kib int64) string {
	if kib < 1024*1024 {
		return mib(kib)
	}
	return fmt.Sprintf("%.1f GiB", float64(kib)/(1024*1024))
}

// endAtRate calls end(i) for i in 0..n-1, perMinute a minute, evenly
// spaced, and returns when each call returned.
func endAtRate(ctx context.Context, n, perMinute int, end func(context.Context, int) error) ([]time.Time, error) {
	interval := time.Minute / time.Duration(perMinute)
	start := time.Now()
	ended := make([]time.Time, n)
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		}
		if err := end(ctx, i); err != nil {
			return nil, err
		}
		ended[i] = time.Now()
	}
	return ended, nil
}

func appMaps(apps []*sparkfixture.App) [][]string {
	out := make([][]string, len(apps))
	for i, a := range apps {
		out[i] = a.MapNames()
	}
	return out
}

func mapNames(apps []*sparkfixture.App) []string {
	return slices.Concat(appMaps(apps)...)
}

// leakWindows is, for each application that ended at ended[i], the time
// to the moment the last of its maps was seen gone; applications with a
// map never seen gone are counted apart.
func leakWindows(ended []time.Time, maps [][]string, gone map[string]time.Time) (leaks []time.Duration, notCleaned int) {
	for i, names := range maps {
		var last time.Time
		all := true
		for _, m := range names {
			at, ok := gone[m]
			if !ok {
				all = false
				break
			}
			if at.After(last) {
				last = at
			}
		}
		if !all {
			notCleaned++
			continue
		}
		leaks = append(leaks, last.Sub(ended[i]))
	}
	return leaks, notCleaned
}

// percentile is the nearest-rank p-quantile (0 < p <= 1) of ds: the
// smallest value at least a fraction p of them do not exceed; 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// podStatusUpdate names the series of the bench's own requests in the
// leak window: the status updates that end the driver Pods. The controller
// never sends one.
func podStatusUpdate(key string) bool { return strings.HasPrefix(key, "PUT pods/status ") }

// excluding drops from r the series drop names ("VERB resource code").
func excluding(r requests, drop func(key string) bool) requests {
	out := requests{by: map[string]int{}}
	for k, n := range r.by {
		if drop(k) {
			continue
		}
		out.by[k] = n
		out.total += n
	}
	return out
}

// goneWatch records when each ConfigMap of a namespace was seen deleted:
// the arrival of its DELETED event on a watch this program holds (the
// same clock the application's end is taken on).
type goneWatch struct {
	mu   sync.Mutex
	gone map[string]time.Time
	err  error
}

func watchGone(ctx context.Context, md metadata.Interface, ns string) (*goneWatch, error) {
	maps := md.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(ns)
	list, err := maps.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, err
	}
	rv := list.ResourceVersion
	w, err := maps.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return nil, err
	}
	g := &goneWatch{gone: map[string]time.Time{}}
	go func() {
		for {
			for ev := range w.ResultChan() {
				now := time.Now()
				if ev.Type == watch.Error {
					g.fail(apierrors.FromObject(ev.Object))
					w.Stop()
					return
				}
				m, ok := ev.Object.(metav1.Object)
				if !ok {
					continue
				}
				rv = m.GetResourceVersion()
				if ev.Type == watch.Deleted {
					g.mu.Lock()
					if _, seen := g.gone[m.GetName()]; !seen {
						g.gone[m.GetName()] = now
					}
					g.mu.Unlock()
				}
			}
			if ctx.Err() != nil {
				return
			}
			// The API server ends a watch after a while: go on from the
			// last version seen.
			if w, err = maps.Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}); err != nil {
				g.fail(err)
				return
			}
		}
	}()
	return g, nil
}

func (g *goneWatch) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = fmt.Errorf("watch configmaps: %w", err)
	}
}

func (g *goneWatch) snapshot() map[string]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]time.Time, len(g.gone))
	for k, v := range g.gone {
		out[k] = v
	}
	return out
}

// notGone counts the applications with a map not seen gone.
func (g *goneWatch) notGone(apps []*sparkfixture.App) int {
	_, n := leakWindows(make([]time.Time, len(apps)), appMaps(apps), g.snapshot())
	return n
}

// waitAll waits until every name was seen gone, or until deadline (not an
// error: what is left is counted), or the watch failed.
func (g *goneWatch) waitAll(ctx context.Context, names []string, deadline time.Time) error {
	for {
		g.mu.Lock()
		err, left := g.err, 0
		for _, n := range names {
			if _, ok := g.gone[n]; !ok {
				left++
			}
		}
		g.mu.Unlock()
		if err != nil {
			return err
		}
		if left == 0 || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
