// Command fakeoperator plays the Spark Operator and the kubelet on the test
// control plane, so that Airflow's SparkKubernetesOperator can run end to end
// with no Spark, no node and no image.
//
// It watches SparkApplications and, for each new one (no status yet), makes
// what the operator, spark-submit and the kubelet would: the driver Pod
// <name>-driver owned by the SparkApplication and labelled with
// spec.driver.labels plus Spark's and the operator's labels, executor Pods, and
// Spark's ConfigMaps owned by the driver Pod (all through internal/sparkfixture,
// which adopts the existing SparkApplication instead of creating one). It then
// moves the driver Pod to Running and the SparkApplication to RUNNING, waits,
// and moves them to Succeeded/COMPLETED or Failed/FAILED through the status
// subresources.
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
// sparkcm-hook.test/maps (the generated ConfigMaps, comma-separated) and
// sparkcm-hook.test/driver-pod on the SparkApplication.
//
// With --node-image IMAGE (a control plane with a node, devenv up --node) the
// Pods really run: each container runs IMAGE (testbed's podstub) for the
// run-seconds and exits 0 or 1 by the outcome, and the kubelet, not this
// program, moves the Pods to Succeeded or Failed; the SparkApplication's state
// follows once the kubelet reported the driver's end.
//
// Usage: fakeoperator --kubeconfig PATH [--namespace NS] [--ready-file PATH]
// [--outcome COMPLETED] [--run-seconds 1] [--node-image IMAGE]. It runs until
// SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
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

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
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
	f := &fake{opts: o, kube: kube, dyn: dyn, log: log, seen: map[types.UID]bool{}}
	return f.watch(ctx)
}

type fake struct {
	opts options
	kube kubernetes.Interface
	dyn  dynamic.Interface
	log  *slog.Logger

	mu   sync.Mutex
	seen map[types.UID]bool
	wg   sync.WaitGroup
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
	t := time.NewTimer(time.Duration(seconds * float64(time.Second)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func phaseOf(state string) corev1.PodPhase {
	if state == sparkfixture.StateCompleted {
		return corev1.PodSucceeded
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

	spec := sparkfixture.Spec{Name: name, State: sparkfixture.StateRunning}
	if p.runSeconds == 0 {
		spec.State = p.outcome
	}
	spec.SparkVersion, _, _ = unstructured.NestedString(sa.Object, "spec", "sparkVersion")
	spec.UserSparkConfigMap, _, _ = unstructured.NestedString(sa.Object, "spec", "sparkConfigMap")
	spec.UserHadoopConfigMap, _, _ = unstructured.NestedString(sa.Object, "spec", "hadoopConfigMap")
	if n, ok, _ := unstructured.NestedInt64(sa.Object, "spec", "executor", "instances"); ok && n > 0 {
		spec.Executors = int(min(n, 2)) // enough to have executor Pods; no need for more
	}
	if f.opts.nodeImage != "" {
		spec.NodeImage = f.opts.nodeImage
		spec.DriverRun = time.Duration(p.runSeconds * float64(time.Second))
		spec.DriverExit = 0
		if p.outcome == sparkfixture.StateFailed {
			spec.DriverExit = 1
		}
	}
	driverLabels, _, _ := unstructured.NestedStringMap(sa.Object, "spec", "driver", "labels")
	executorLabels, _, _ := unstructured.NestedStringMap(sa.Object, "spec", "executor", "labels")

	app, err := sparkfixture.Create(ctx,
		&labellingKube{Interface: f.kube, driver: driverLabels, executor: executorLabels},
		&adoptingDynamic{Interface: f.dyn, existing: sa},
		ns, spec)
	if err != nil {
		return fmt.Errorf("create driver and maps: %w", err)
	}
	f.log.Info("application started", "namespace", ns, "name", name, "driver", app.DriverPod,
		"maps", app.MapNames(), "state", spec.State, "outcome", p.outcome, "runSeconds", p.runSeconds)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:%q}}}`,
		AnnotationMaps, strings.Join(app.MapNames(), ","), AnnotationDriverPod, app.DriverPod)
	if _, err := sas.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate sparkapplication: %w", err)
	}
	if p.runSeconds == 0 {
		return nil
	}
	if f.opts.nodeImage != "" {
		// The containers end by themselves; the operator only reports it.
		if err := sparkfixture.WaitForPodPhase(ctx, f.kube, ns, app.DriverPod, phaseOf(p.outcome)); err != nil {
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
	for _, pod := range app.ExecutorPods {
		if err := sparkfixture.SetPodPhase(ctx, f.kube, ns, pod, phase); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if err := sparkfixture.SetPodPhase(ctx, f.kube, ns, app.DriverPod, phase); err != nil {
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
