// Command bench measures sparkcm-hook against the ways people clean up Spark
// ConfigMaps today, in one run on one local control plane (etcd +
// kube-apiserver on loopback), and prints one markdown table on stdout;
// progress goes to stderr. `make bench` runs it with the numbers of issues 3
// and 4; flags scale it down for a quick try:
//
//	go run ./internal/cmd/bench --bin bin/sparkcm-hook --maps 2000 --pods 200 --other-maps 2000 --other-pods 200 --janitor-sample 5
//
// Issue 3 (one cleanup): `sparkcm-hook cleanup --spark-app` in a namespace
// with --other-maps maps and --other-pods Pods, beside `kubectl delete cm -l
// spark-app-selector=ID`. Issue 4 (a backlog): four identical namespaces of
// --maps leftover maps among --pods Pods, one each for `sparkcm-hook sweep`,
// the shell janitor (on a sample), one DeleteCollection and the floor (a bare
// client deleting every map with a UID precondition and no checks).
//
// The controller's rows (leak-window, gc-anchor, controller-memory,
// idle-cost) run last, on a control plane of their own: `sparkcm-hook
// controller` as a child while applications end at --controller-rate a
// minute, the garbage collector's time for a deleted driver's maps beside
// it, the controller's memory over --controller-pods Spark Pods and
// --controller-maps maps, and its idle memory against one `watch` sidecar
// per running driver.
//
// API requests are counted by the API server itself (apiserver_request_total
// before and after each row); wall time is the child process's, from start to
// exit, and its peak RSS is measured by GNU time. After every sweep row the
// bench checks, map by map, that exactly the in-use maps stayed, and exits 1
// when any other map stayed (--keep-ledgers keeps the sweeps' ledgers). See
// BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "__") {
		os.Exit(runChild(os.Args[1], os.Args[2:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := benchMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin           string
	maps          int
	pods          int
	dataBytes     int
	otherMaps     int
	otherPods     int
	janitorSample int
	janitor       string
	kubectl       string
	seedWorkers   int
	floorWorkers  int
	preRounds     int
	preMaps       int
	scaleMode     bool
	scale         scaleOptions
	rows          map[string]bool
	// Issue 11: the ServiceAccount inventory.
	invNamespaces int
	invAccounts   int
	invSample     int
	invScript     string
	// The controller's rows: applications ending, how many a minute; the
	// memory row's namespace; the sidecars the idle row multiplies by.
	ctlApps, ctlRate, ctlPods, ctlMaps, sidecars int
	// keepLedgers, when set, is the folder each sweep row's -o json is
	// written to.
	keepLedgers string
}

// allRows are the rows in the order they run.
var allRows = []string{"cleanup", "kubectl", "sweep", "floor", "deletecollection", "janitor", "inventory", "preconditions"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "", "the sparkcm-hook binary to measure (required; make build makes bin/sparkcm-hook)")
	fs.IntVar(&o.maps, "maps", 10000, "issue 4: leftover maps in each backlog namespace (a multiple of 5: five per application)")
	fs.IntVar(&o.pods, "pods", 1000, "issue 4: Pods in each backlog namespace, a fifth Running (each mounting a leftover map), the rest finished")
	fs.IntVar(&o.dataBytes, "data-bytes", 20*1024, "issue 4: data in each leftover map")
	fs.IntVar(&o.otherMaps, "other-maps", 10000, "issue 3: maps in the cleanup namespace besides the application's")
	fs.IntVar(&o.otherPods, "other-pods", 1000, "issue 3: Pods in the cleanup namespace besides the application's driver")
	fs.IntVar(&o.janitorSample, "janitor-sample", 30, "maps the shell janitor processes (it needs about a second each); 0 skips it")
	fs.StringVar(&o.janitor, "janitor", "", "the shell janitor (default: <repo>/../shared/baseline/seed-janitor.sh; the row is skipped when it is missing)")
	fs.StringVar(&o.kubectl, "kubectl", "kubectl", "kubectl for the kubectl and janitor rows (rows say n/a when it is missing)")
	fs.IntVar(&o.seedWorkers, "seed-workers", 48, "concurrent requests while seeding")
	fs.IntVar(&o.floorWorkers, "floor-workers", 32, "concurrent deletes of the floor")
	fs.IntVar(&o.invNamespaces, "inv-namespaces", 200, "issue 11: namespaces for the ServiceAccount inventory")
	fs.IntVar(&o.invAccounts, "inv-accounts", 20, "issue 11: ServiceAccounts per namespace besides \"default\" (at least 6)")
	fs.IntVar(&o.invSample, "inv-sample", 5, "namespaces the shell inventory runs over (it needs about a second per account); 0 all, -1 skips it")
	fs.StringVar(&o.invScript, "inv-script", "", "the shell inventory (default: <repo>/../shared/baseline/seed-sa-inventory.sh; the row is skipped when it is missing)")
	fs.StringVar(&o.keepLedgers, "keep-ledgers", "", "a folder to keep each sweep row's ledger (its -o json) in, as <namespace or row>.json (created if missing)")
	fs.IntVar(&o.ctlApps, "controller-apps", 150, "controller: applications that end in the leak-window row, and driver Pods the gc-anchor row deletes")
	fs.IntVar(&o.ctlRate, "controller-rate", 100, "controller: applications ending (driver Pods deleted) a minute in the leak-window and gc-anchor rows")
	fs.IntVar(&o.ctlPods, "controller-pods", 1000, "controller: Spark Pods the controller-memory row's controller watches (a multiple of 10: a driver and 9 executors per application; the issue's figure, 10000, with --scale)")
	fs.IntVar(&o.ctlMaps, "controller-maps", 10000, "controller: maps the controller-memory row's controller watches (at least 5 per 10 Pods; the issue's figure, 100000, with --scale)")
	fs.IntVar(&o.sidecars, "sidecars", 1000, "controller: running drivers the idle-cost row counts one watch sidecar for")
	rows := fs.String("rows", strings.Join(allRows, ","), "the rows to run (and seed for), comma-separated")
	fs.IntVar(&o.preRounds, "pre-rounds", 3, "issue 8: rounds of the floor that prices the resourceVersion precondition (every second delete carries it)")
	fs.IntVar(&o.preMaps, "pre-maps", 5000, "issue 8: maps in the namespace of each round")
	fs.BoolVar(&o.scaleMode, "scale", false, "issue 14 instead of the other rows: the sweep at 120,000 maps, in one namespace and over 1,000 (seeding takes a quarter of an hour); then the controller-memory row at 10,000 Spark Pods and 100,000 maps")
	fs.IntVar(&o.scale.maps, "scale-maps", 120000, "--scale: leftover maps in the large namespace, and spread over --scale-namespaces")
	fs.IntVar(&o.scale.namespaces, "scale-namespaces", 1000, "--scale: namespaces the spread-out backlog uses")
	fs.IntVar(&o.scale.pods, "scale-pods", 1000, "--scale: Pods among each backlog (a fifth Running, each mounting a leftover map)")
	fs.IntVar(&o.scale.dataBytes, "scale-data-bytes", 2048, "--scale: data in each leftover map")
	fs.IntVar(&o.scale.small, "scale-small", 10000, "--scale: maps in the namespace the large one is compared with")
	fs.BoolVar(&o.scale.oneOnly, "scale-one-only", false, "--scale: only the 10,000- and the 120,000-map namespaces and their rows (report and sweep), without the floor and the spread-out backlog: a third of the seeding")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.scaleMode && !set["controller-pods"] && !set["controller-maps"] {
		o.ctlPods, o.ctlMaps = 10000, 100000
	}
	o.rows = map[string]bool{}
	for _, r := range strings.Split(*rows, ",") {
		if !slices.Contains(allRows, r) {
			return nil, fmt.Errorf("--rows: unknown row %q (known: %s)", r, strings.Join(allRows, ","))
		}
		o.rows[r] = true
	}
	switch {
	case o.bin == "":
		return nil, errors.New("--bin is required")
	case o.maps < 5 || o.maps%5 != 0:
		return nil, errors.New("--maps must be a positive multiple of 5")
	case o.pods < 5:
		return nil, errors.New("--pods must be at least 5")
	case o.otherMaps < 0 || o.otherPods < 0 || o.janitorSample < 0 || o.dataBytes < 0:
		return nil, errors.New("counts must not be negative")
	case o.invNamespaces < 1 || o.invAccounts < 6:
		return nil, errors.New("--inv-namespaces must be at least 1 and --inv-accounts at least 6")
	case o.seedWorkers < 1 || o.floorWorkers < 1:
		return nil, errors.New("--seed-workers and --floor-workers must be at least 1")
	case o.ctlApps < 1 || o.ctlRate < 1 || o.sidecars < 1:
		return nil, errors.New("--controller-apps, --controller-rate and --sidecars must be at least 1")
	case o.ctlPods < 10 || o.ctlPods%10 != 0 || o.ctlMaps < o.ctlPods/2:
		return nil, errors.New("--controller-pods must be a positive multiple of 10 and --controller-maps at least half of it (5 maps per application of 10 Pods)")
	case o.preRounds < 1 || o.preMaps < 5 || o.preMaps%5 != 0:
		return nil, errors.New("--pre-rounds must be at least 1 and --pre-maps a positive multiple of 5")
	case o.scaleMode && (o.scale.namespaces < 1 || o.scale.maps%(5*o.scale.namespaces) != 0 || o.scale.small%5 != 0 || o.scale.pods < 5 || o.scale.pods%o.scale.namespaces != 0):
		return nil, errors.New("--scale: --scale-maps must be a multiple of 5 x --scale-namespaces, --scale-small of 5, and --scale-pods at least 5 and a multiple of --scale-namespaces")
	}
	var err error
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return nil, err
	}
	if o.keepLedgers != "" {
		if err := os.MkdirAll(o.keepLedgers, 0o755); err != nil {
			return nil, fmt.Errorf("--keep-ledgers: %w", err)
		}
	}
	if st, err := os.Stat(o.bin); err != nil || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("--bin %s is not an executable file (run make build)", o.bin)
	}
	if o.janitor == "" {
		// The baselines sit beside the repository (../shared/baseline) on
		// the machines that have them; the row is skipped where not.
		root, err := kubecluster.RepoRoot()
		if err != nil {
			return nil, err
		}
		o.janitor = filepath.Join(filepath.Dir(root), "shared", "baseline", "seed-janitor.sh")
	}
	if o.invScript == "" {
		root, err := kubecluster.RepoRoot()
		if err != nil {
			return nil, err
		}
		o.invScript = filepath.Join(filepath.Dir(root), "shared", "baseline", "seed-sa-inventory.sh")
	}
	return o, nil
}

// bench is one run: the control plane, its clients and the scratch folder.
type bench struct {
	o          *options
	a          *admin
	count      requestCounter
	kubeconfig string
	home       string // HOME for kubectl: a fresh discovery cache
	self       string // this program, for the in-process baselines
	kubectl    string // "" when not installed
	jq         string
	start      time.Time
	stderr     io.Writer
}

// logf prints progress with the time since start and the machine's
// 1-minute load average (other work on the machine shows up in the timings).
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "[%6.1fs load %s] %s\n", time.Since(b.start).Seconds(), loadavg(), fmt.Sprintf(format, args...))
}

// loadavg is the 1-minute load average, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{o: o, start: time.Now(), stderr: stderr}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if p, err := exec.LookPath(o.kubectl); err == nil {
		b.kubectl = p
	} else {
		b.logf("kubectl not found (%v): its rows will say n/a", err)
	}
	if p, err := exec.LookPath("jq"); err == nil {
		b.jq = p
	}
	tmp, err := os.MkdirTemp("", "sparkcm-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	b.home = filepath.Join(tmp, "home")
	if err := os.MkdirAll(b.home, 0o700); err != nil {
		return err
	}
	// Pin the binary through a hard link: a `make build` elsewhere in the
	// tree during the run renames a new file into place and must not swap
	// the binary between rows. Not a copy: a freshly written copy sits in
	// the page cache in large folios, and mapping it adds 10-15 MiB to the
	// peak RSS of the very same program.
	pinned := filepath.Join(tmp, "sparkcm-hook")
	if err := os.Link(o.bin, pinned); err == nil {
		o.bin = pinned
	} else {
		b.logf("measuring %s in place (cannot hard-link it: %v)", o.bin, err)
	}

	if o.scaleMode {
		cp, err := b.startControlPlane(ctx, tmp, kubecluster.Options{EtcdFlags: []string{etcdScaleQuota}})
		if err != nil {
			return err
		}
		scaleErr := b.scale(ctx, stdout)
		cp.Stop()
		if !o.rows[rowCtlMemory] || ctx.Err() != nil {
			return scaleErr
		}
		// The controller's memory at the scale: its seeding takes
		// minutes, too long for every `make bench`.
		o.rows = map[string]bool{rowCtlMemory: true}
		rep := &report{o: o, version: binVersion(ctx, o.bin)}
		if err := b.controllerRows(ctx, rep, tmp); err != nil {
			return errors.Join(scaleErr, err)
		}
		rep.loadAfter = loadavg()
		rep.print(stdout, runtime.NumCPU(), time.Now())
		return scaleErr
	}
	rep := &report{o: o, version: binVersion(ctx, o.bin)}
	if o.mainRows() {
		if err := b.mainRows(ctx, rep, tmp); err != nil {
			return err
		}
	}
	// The controller's rows run on a control plane of their own, started
	// after the others stopped: nothing else is on it, and its
	// controller-manager starts only for the garbage collector's row.
	if err := b.controllerRows(ctx, rep, tmp); err != nil {
		return err
	}
	rep.loadAfter = loadavg()
	rep.print(stdout, runtime.NumCPU(), time.Now())
	b.logf("done")
	return exactFailure(rep.exact)
}

// startControlPlane starts a control plane for the rows and points b's
// admin clients, request counter and kubeconfig at it.
func (b *bench) startControlPlane(ctx context.Context, tmp string, opts kubecluster.Options) (*kubecluster.ControlPlane, error) {
	b.logf("starting etcd + kube-apiserver on loopback")
	cp, err := kubecluster.Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	b.kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := kubecluster.WriteKubeconfig(b.kubeconfig, cp.AdminConfig(), ""); err != nil {
		cp.Stop()
		return nil, err
	}
	acfg := cp.AdminConfig()
	acfg.QPS = -1 // seeding as fast as the control plane goes
	b.a = &admin{cp: cp, workers: b.o.seedWorkers}
	if b.a.dyn, err = dynamic.NewForConfig(acfg); err != nil {
		cp.Stop()
		return nil, err
	}
	if b.a.metadata, err = metadata.NewForConfig(acfg); err != nil {
		cp.Stop()
		return nil, err
	}
	// Protobuf costs the API server and this program less than JSON to
	// encode and decode: seeding is faster (the measured tools use their
	// own defaults).
	acfg.ContentType = "application/vnd.kubernetes.protobuf"
	acfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if b.a.kube, err = kubernetes.NewForConfig(acfg); err != nil {
		cp.Stop()
		return nil, err
	}
	b.count = requestCounter{kube: b.a.kube}
	return cp, nil
}

// mainRows seeds and measures every row but the controller's, on one
// control plane it stops when done.
func (b *bench) mainRows(ctx context.Context, rep *report, tmp string) error {
	o := b.o
	cp, err := b.startControlPlane(ctx, tmp, kubecluster.Options{})
	if err != nil {
		return err
	}
	defer cp.Stop()

	// Seed everything first, so that every row runs on the same control
	// plane holding the same data.
	seedStart := time.Now()
	var busy, empty *cleanupScene
	if o.rows["cleanup"] || o.rows["kubectl"] {
		b.logf("seeding issue 3: %d other maps and %d Pods plus two finished applications", o.otherMaps, o.otherPods)
		if busy, err = b.a.seedCleanupScene(ctx, "cleanup-busy", o.otherMaps, o.otherPods); err != nil {
			return err
		}
		if empty, err = b.a.seedCleanupScene(ctx, "cleanup-empty", 0, 0); err != nil {
			return err
		}
	}
	backlogs := map[string]*backlog{}
	for _, name := range []string{"sweep", "floor", "deletecollection", "janitor"} {
		if !o.rows[name] {
			continue
		}
		ns := "backlog-" + name
		t := time.Now()
		bl, err := b.a.seedBacklog(ctx, ns, o.maps, o.pods, o.dataBytes, b.logf)
		if err != nil {
			return err
		}
		backlogs[name] = bl
		b.logf("seeded %s: %d leftover maps of %d B (%d applications, %d of them gone), %d Pods (%d Running, each mounting a leftover map) in %s",
			ns, bl.maps, o.dataBytes, bl.apps, bl.appsGone, bl.pods, len(bl.inUse), time.Since(t).Round(time.Millisecond))
	}
	var inv *inventoryScene
	if o.rows["inventory"] {
		t := time.Now()
		if inv, err = b.a.seedInventory(ctx, o.invNamespaces, o.invAccounts, b.logf); err != nil {
			return err
		}
		b.logf("seeded the inventory in %s", time.Since(t).Round(time.Millisecond))
	}
	var preBacklogs []*backlog
	if o.rows["preconditions"] {
		if preBacklogs, err = b.seedPreconditions(ctx); err != nil {
			return err
		}
	}
	b.logf("seeding took %s", time.Since(seedStart).Round(time.Second))
	runtime.GC()
	debug.FreeOSMemory()

	rep.loadBefore = loadavg()
	if err := b.cleanupRows(ctx, rep, busy, empty); err != nil {
		return err
	}
	if err := b.backlogRows(ctx, rep, backlogs); err != nil {
		return err
	}
	if inv != nil {
		if err := b.inventory(ctx, rep, inv); err != nil {
			return err
		}
	}
	if preBacklogs != nil {
		if err := b.preconditions(ctx, rep, preBacklogs); err != nil {
			return err
		}
	}
	if err := b.throttledRows(ctx, rep, tmp); err != nil {
		return err
	}
	return b.footprint(ctx, rep)
}

// env is the environment of a measured child: the real one with a scratch
// HOME (kubectl keeps its discovery cache there) and the test bed's
// kubeconfig.
func (b *bench) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+b.home, "KUBECONFIG="+b.kubeconfig)
	return append(env, extra...)
}

// measured runs a child and counts the API requests it sent.
func (b *bench) measured(ctx context.Context, env []string, name string, args ...string) (proc, requests, error) {
	var p proc
	reqs, err := b.count.measure(ctx, func() error {
		var err error
		p, err = run(ctx, env, name, args...)
		return err
	})
	return p, reqs, err
}

// result is sparkcm-hook's -o json, read back into the lists the rows
// count (hook.Result reads the document's entries by decision).
type result = hook.Result

func parseResult(p proc) (*result, error) {
	var r result
	if err := json.Unmarshal(p.stdout, &r); err != nil {
		return nil, fmt.Errorf("sparkcm-hook exited %d without a JSON result (%w); stderr:\n%s", p.exitCode, err, tail(p.stderr, 20))
	}
	return &r, nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
