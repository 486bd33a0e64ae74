// Command fakeoperator plays the Spark Operator and the kubelet on the test
// control plane, so that Airflow's SparkKubernetesOperator can run end to end
// with no node and no image.
//
// It watches SparkApplications and, for each new one (no status yet), does
// what the operator does: it runs the real spark-submit (--spark, a folder
// hack/spark.sh made; default: the first entry of $SPARKCM_SPARK) in cluster
// mode with the application's settings, the operator's labels on the driver,
// and driver and executor pod templates that carry the owner reference to the
// SparkApplication (sidecars and the user-supplied map volumes, which the
// operator's webhook would add, go into the driver template). Spark itself
// then creates the driver Pod <name>-driver and its ConfigMaps: the driver
// conf map and the pod-template map (the operator always passes an executor
// template), plus whatever the application's settings ask for. Without a
// Spark install it says so and makes Spark's objects through
// internal/sparkfixture instead (driver, executor maps and Pods alike).
//
// Playing the kubelet, it then moves the driver Pod to Running and the
// SparkApplication to RUNNING, waits, and moves them to Succeeded/COMPLETED or
// Failed/FAILED through the status subresources. No driver JVM runs in the
// Pod, so Spark never creates executors or their map here.
//
// What Airflow (cncf-kubernetes provider 10.25.0) needs to see, and where:
//   - CustomObjectLauncher.start_spark_job polls status.applicationState.state
//     every 10 s: no status counts as SUBMITTED (keep waiting), FAILED raises
//     at once, anything else means started.
//   - SparkKubernetesOperator.find_spark_job lists Pods by the labels it put in
//     spec.driver.labels (dag_id, task_id, run_id, spark_kubernetes_operator)
//     plus spark-role=driver, skipping Failed ones; the driver Pod carries them.
//   - With get_logs=False, KubernetesPodOperator waits for the container
//     spark-kubernetes-driver to be terminated, then for a terminal Pod phase,
//     and fails the task unless the phase is Succeeded.
//
// Per application, annotations on the SparkApplication override the flags:
//
//	sparkcm-hook.test/outcome: COMPLETED | FAILED
//	sparkcm-hook.test/run-seconds: seconds in RUNNING before the outcome; 0
//	    goes straight to the outcome
//	sparkcm-hook.test/start-delay-seconds: seconds before anything is created
//	    (with outcome FAILED and run-seconds 0, Airflow's start-up poll sees
//	    FAILED and raises before it records the driver Pod in XCom)
//
// Once the objects exist it records, for the tests, the annotations
// sparkcm-hook.test/maps (the ConfigMaps the driver Pod owns, comma-separated)
// and sparkcm-hook.test/driver-pod on the SparkApplication.
//
// With --node-image IMAGE (a control plane with a node, devenv up --node) the
// Pods really run: each container runs IMAGE (kubecluster's podstub) for the
// run-seconds and exits 0 or 1 by the outcome, and the kubelet, not this
// program, moves the Pods to Succeeded or Failed; the SparkApplication's state
// follows once the kubelet reported the driver's end. The Pods then come from
// internal/sparkfixture even with a Spark install: the driver Pod spark-submit
// makes runs the Spark image, which the test node does not have.
//
// Usage: fakeoperator --kubeconfig PATH [--namespace NS] [--ready-file PATH]
// [--outcome COMPLETED] [--run-seconds 1] [--spark DIR] [--node-image IMAGE]. It runs until
// SIGTERM or SIGINT.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// Annotations the tests read and write.
const (
	AnnotationOutcome    = "sparkcm-hook.test/outcome"
	AnnotationRunSeconds = "sparkcm-hook.test/run-seconds"
	AnnotationStartDelay = "sparkcm-hook.test/start-delay-seconds"
	AnnotationMaps       = "sparkcm-hook.test/maps"
	AnnotationDriverPod  = "sparkcm-hook.test/driver-pod"
)

type options struct {
	kubeconfig string
	namespace  string
	readyFile  string
	outcome    string
	runSeconds float64
	spark      string
	nodeImage  string
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the test control plane")
	flag.StringVar(&o.namespace, "namespace", "", "watch only this namespace (default: all)")
	flag.StringVar(&o.readyFile, "ready-file", "", "file to create once the watch is established")
	flag.StringVar(&o.outcome, "outcome", sparkfixture.StateCompleted, "default outcome: COMPLETED or FAILED")
	flag.Float64Var(&o.runSeconds, "run-seconds", 1, "default seconds in RUNNING before the outcome")
	flag.StringVar(&o.nodeImage, "node-image", "", "run the Pods on the test node with this image (the kubelet sets their phases)")
	flag.StringVar(&o.spark, "spark", firstEntry(os.Getenv(sparksubmit.EnvInstalls)), "a Spark install made by hack/spark.sh (several, separated like PATH: picked by spec.sparkVersion)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, o, log)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("fakeoperator stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, log *slog.Logger) error {
	if o.outcome != sparkfixture.StateCompleted && o.outcome != sparkfixture.StateFailed {
		return fmt.Errorf("--outcome must be COMPLETED or FAILED, not %q", o.outcome)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	f := &fake{opts: o, kube: kube, dyn: dyn, log: log, seen: map[types.UID]bool{}, host: cfg.Host}
	if f.spark, err = sparksubmit.Load(filepath.SplitList(o.spark)...); err != nil {
		return err
	}
	if len(f.spark) == 0 && o.nodeImage == "" {
		log.Warn("no Spark install (--spark or $SPARKCM_SPARK): Spark's objects are made by internal/sparkfixture, not by spark-submit")
	}
	return f.watch(ctx)
}

// firstEntry is the first folder of a PATH-like list.
func firstEntry(list string) string {
	if dirs := filepath.SplitList(list); len(dirs) > 0 {
		return dirs[0]
	}
	return ""
}

type fake struct {
	opts options
	kube kubernetes.Interface
	dyn  dynamic.Interface
	log  *slog.Logger

	mu   sync.Mutex
	seen map[types.UID]bool
	wg   sync.WaitGroup

	host  string                // the API server, for spark-submit
	spark []sparksubmit.Install // empty: no real Spark, the fixtures stand in
}

func (f *fake) client() dynamic.ResourceInterface {
	return f.dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(f.opts.namespace)
}

// watch lists, then follows SparkApplications, listing again whenever the
// watch ends (timeout, expired resourceVersion, connection loss), and starts
// one goroutine per new application.
func (f *fake) watch(ctx context.Context) error {
	defer f.wg.Wait()
	ready := false
	for {
		list, err := f.client().List(ctx, metav1.ListOptions{})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.log.Warn("list sparkapplications failed; retrying", "err", err)
			if err := sleep(ctx, 1); err != nil {
				return err
			}
			continue
		}
		for i := range list.Items {
			f.consider(ctx, &list.Items[i])
		}
		w, err := f.client().Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			f.log.Warn("watch sparkapplications failed; retrying", "err", err)
			if err := sleep(ctx, 1); err != nil {
				return err
			}
			continue
		}
		if !ready {
			ready = true
			f.log.Info("watching SparkApplications", "namespace", f.opts.namespace)
			if f.opts.readyFile != "" {
				if err := os.WriteFile(f.opts.readyFile, []byte("ready\n"), 0o644); err != nil {
					w.Stop()
					return err
				}
			}
		}
		f.follow(ctx, w)
		w.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// follow handles events until the watch ends or reports an error.
func (f *fake) follow(ctx context.Context, w watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if u, ok := ev.Object.(*unstructured.Unstructured); ok {
					f.consider(ctx, u)
				}
			case watch.Error:
				f.log.Info("watch ended; listing again", "status", ev.Object)
				return
			}
		}
	}
}

// consider starts an application that has no status and was not seen before.
func (f *fake) consider(ctx context.Context, sa *unstructured.Unstructured) {
	if state, _, _ := unstructured.NestedString(sa.Object, "status", "applicationState", "state"); state != "" {
		return
	}
	if sa.GetDeletionTimestamp() != nil {
		return
	}
	f.mu.Lock()
	if f.seen[sa.GetUID()] {
		f.mu.Unlock()
		return
	}
	f.seen[sa.GetUID()] = true
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := f.launch(ctx, sa); err != nil && !errors.Is(err, context.Canceled) {
			f.log.Error("application not run", "namespace", sa.GetNamespace(), "name", sa.GetName(), "err", err)
		}
	}()
}

type plan struct {
	outcome    string
	runSeconds float64
	startDelay float64
}

func (f *fake) planFor(sa *unstructured.Unstructured) (plan, error) {
	p := plan{outcome: f.opts.outcome, runSeconds: f.opts.runSeconds}
	ann := sa.GetAnnotations()
	if v, ok := ann[AnnotationOutcome]; ok {
		v = strings.ToUpper(strings.TrimSpace(v))
		if v != sparkfixture.StateCompleted && v != sparkfixture.StateFailed {
			return p, fmt.Errorf("annotation %s must be COMPLETED or FAILED, not %q", AnnotationOutcome, v)
		}
		p.outcome = v
	}
	for key, dst := range map[string]*float64{AnnotationRunSeconds: &p.runSeconds, AnnotationStartDelay: &p.startDelay} {
		if v, ok := ann[key]; ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || n < 0 {
				return p, fmt.Errorf("annotation %s: %q is not a number of seconds", key, v)
			}
			*dst = n
		}
	}
	return p, nil
}

func sleep(ctx context.Context, seconds float64) error {
	if seconds <= 0 {
		return nil
	}
	return kube.SleepCtx(ctx, time.Duration(seconds*float64(time.Second)))
}

func phaseOf(state string) corev1.PodPhase {
	switch state {
	case sparkfixture.StateCompleted:
		return corev1.PodSucceeded
	case sparkfixture.StateRunning:
		return corev1.PodRunning
	}
	return corev1.PodFailed
}

func (f *fake) launch(ctx context.Context, seen *unstructured.Unstructured) error {
	ns, name := seen.GetNamespace(), seen.GetName()
	p, err := f.planFor(seen)
	if err != nil {
		return err
	}
	if err := sleep(ctx, p.startDelay); err != nil {
		return err
	}
	sas := f.dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(ns)
	sa, err := sas.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get sparkapplication: %w", err)
	}
	if sa.GetUID() != seen.GetUID() || sa.GetDeletionTimestamp() != nil {
		return nil // replaced or being deleted meanwhile
	}
	if state, _, _ := unstructured.NestedString(sa.Object, "status", "applicationState", "state"); state != "" {
		return nil // somebody else runs it
	}

	state := sparkfixture.StateRunning
	if p.runSeconds == 0 {
		state = p.outcome
	}
	var driver string
	var maps, executors []string
	if len(f.spark) > 0 && f.opts.nodeImage == "" {
		submissionID := newUUID()
		sub, err := f.submit(ctx, sa, submissionID)
		if err != nil {
			return fmt.Errorf("spark-submit: %w", err)
		}
		driver, maps = sub.driver.Name, sub.maps
		if err := sparkfixture.SetPodPhase(ctx, f.kube, ns, driver, phaseOf(state)); err != nil {
			return err
		}
		if err := f.setStatus(ctx, sa, state, sub.appID, submissionID, driver); err != nil {
			return err
		}
	} else {
		app, err := f.fixtureApp(ctx, sa, state, p)
		if err != nil {
			return err
		}
		driver, maps, executors = app.DriverPod, app.MapNames(), app.ExecutorPods
	}
	f.log.Info("application started", "namespace", ns, "name", name, "driver", driver,
		"maps", maps, "state", state, "outcome", p.outcome, "runSeconds", p.runSeconds)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:%q}}}`,
		AnnotationMaps, strings.Join(maps, ","), AnnotationDriverPod, driver)
	if _, err := sas.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate sparkapplication: %w", err)
	}
	if p.runSeconds == 0 {
		return nil
	}
	if f.opts.nodeImage != "" {
		// The containers end by themselves; the operator only reports it.
		if err := sparkfixture.WaitForPodPhase(ctx, f.kube, ns, driver, phaseOf(p.outcome)); err != nil {
			return err
		}
		if err := sparkfixture.SetState(ctx, f.dyn, ns, name, p.outcome); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		f.log.Info("application finished on the node", "namespace", ns, "name", name, "state", p.outcome)
		return nil
	}
	if err := sleep(ctx, p.runSeconds); err != nil {
		return err
	}
	phase := phaseOf(p.outcome)
	for _, pod := range executors {
		if err := sparkfixture.SetPodPhase(ctx, f.kube, ns, pod, phase); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if err := sparkfixture.SetPodPhase(ctx, f.kube, ns, driver, phase); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // the driver was deleted (Airflow's on_kill, a test): nothing to finish
		}
		return err
	}
	if err := sparkfixture.SetState(ctx, f.dyn, ns, name, p.outcome); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	f.log.Info("application finished", "namespace", ns, "name", name, "state", p.outcome)
	return nil
}

// fixtureApp makes Spark's objects through internal/sparkfixture when there is
// no Spark install; the fixture adopts the existing SparkApplication.
func (f *fake) fixtureApp(ctx context.Context, sa *unstructured.Unstructured, state string, p plan) (*sparkfixture.App, error) {
	spec := sparkfixture.Spec{Name: sa.GetName(), State: state}
	if f.opts.nodeImage != "" {
		spec.NodeImage = f.opts.nodeImage
		spec.DriverRun = time.Duration(p.runSeconds * float64(time.Second))
		spec.DriverExit = 0
		if p.outcome == sparkfixture.StateFailed {
			spec.DriverExit = 1
		}
	}
	spec.SparkVersion, _, _ = unstructured.NestedString(sa.Object, "spec", "sparkVersion")
	spec.UserSparkConfigMap, _, _ = unstructured.NestedString(sa.Object, "spec", "sparkConfigMap")
	spec.UserHadoopConfigMap, _, _ = unstructured.NestedString(sa.Object, "spec", "hadoopConfigMap")
	if n, ok, _ := unstructured.NestedInt64(sa.Object, "spec", "executor", "instances"); ok && n > 0 {
		spec.Executors = int(min(n, 2)) // enough to have executor Pods; no need for more
	}
	driverLabels, _, _ := unstructured.NestedStringMap(sa.Object, "spec", "driver", "labels")
	executorLabels, _, _ := unstructured.NestedStringMap(sa.Object, "spec", "executor", "labels")
	app, err := sparkfixture.Create(ctx,
		&labellingKube{Interface: f.kube, driver: driverLabels, executor: executorLabels},
		&adoptingDynamic{Interface: f.dyn, existing: sa},
		sa.GetNamespace(), spec)
	if err != nil {
		return nil, fmt.Errorf("create driver and maps: %w", err)
	}
	return app, nil
}

// setStatus writes the status the operator writes once it has submitted and
// seen the driver Pod.
func (f *fake) setStatus(ctx context.Context, sa *unstructured.Unstructured, state, appID, submissionID, driver string) error {
	now := time.Now().UTC().Format(time.RFC3339)
	status := map[string]any{
		"sparkApplicationId":        appID,
		"submissionID":              submissionID,
		"lastSubmissionAttemptTime": now,
		"submissionAttempts":        1,
		"executionAttempts":         1,
		"driverInfo":                map[string]any{"podName": driver},
		"applicationState":          map[string]any{"state": state},
	}
	if sparkfixture.IsTerminal(state) {
		status["terminationTime"] = now
	}
	b, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = f.dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(sa.GetNamespace()).
		Patch(ctx, sa.GetName(), types.MergePatchType, b, metav1.PatchOptions{}, "status")
	if err != nil {
		return fmt.Errorf("update sparkapplication %s/%s status: %w", sa.GetNamespace(), sa.GetName(), err)
	}
	return nil
}

// newUUID is a random (version 4) UUID, the operator's submission id.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
