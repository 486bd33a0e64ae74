// Command demo is `make demo`: it starts a local control plane, reproduces
// what teams find in their Spark job namespaces (10,000 leftover ConfigMaps
// from 2,000 finished applications, among running applications, maps in use,
// user-supplied and unrelated maps), submits one more application with the
// real spark-submit (Spark from hack/spark.sh), then runs the real
// sparkcm-hook binary: one cleanup of that application as an Airflow task
// would, sweep --dry-run, report (checked against the dry run's counts; again after the sweep),
// and sweep. It prints a before/after table and stops
// everything it started.
package main

import (
	"bytes"
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
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	bin      string
	maps     int
	running  int
	inUse    int
	userMaps int
	others   int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.bin, "bin", "bin/sparkcm-hook", "the sparkcm-hook binary to run")
	fs.IntVar(&o.maps, "maps", 10000, "leftover maps from finished applications (five per application)")
	fs.IntVar(&o.running, "running", 5, "running applications")
	fs.IntVar(&o.inUse, "in-use", 20, "leftover maps that a running Pod still mounts")
	fs.IntVar(&o.userMaps, "user-maps", 3, "applications with user-supplied maps")
	fs.IntVar(&o.others, "others", 50, "unrelated maps")
	if err := fs.Parse(args); err != nil {
		return err
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build)", o.bin, err)
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "==> "+format+"\n", a...) }

	start := time.Now()
	say("starting etcd and kube-apiserver on loopback")
	cp, err := kubecluster.Start(ctx, kubecluster.Options{ApacheCRD: true})
	if err != nil {
		return err
	}
	defer cp.Stop()
	const ns = "data-jobs"
	dir, err := namespaceWithKubeconfig(ctx, cp, ns)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kc := filepath.Join(dir, "kubeconfig")
	kube, dyn := cp.Clientset(), cp.Dynamic()

	say("reproducing the namespace: %d leftover maps from %d finished applications, and what must stay", o.maps, o.maps/5)
	seedStart := time.Now()
	w, err := seed(ctx, kube, dyn, ns, o)
	if err != nil {
		return err
	}
	say("seeded in %s", time.Since(seedStart).Round(100*time.Millisecond))
	if w.justFinished, err = justFinished(ctx, cp, ns, say); err != nil {
		return err
	}
	before, err := census(ctx, kube, ns)
	if err != nil {
		return err
	}

	say("an Airflow teardown task cleans up the application that just finished (by its driver Pod, from XCom)")
	cleanup, err := runHook(ctx, bin, kc, stderr, "cleanup", "--driver-pod", w.justFinished.driverPod, "-o", "json")
	if err != nil {
		return err
	}
	say("sweep --dry-run over the backlog")
	dry, err := runHook(ctx, bin, kc, stderr, "sweep", "--older-than", "0s", "--dry-run", "-o", "json")
	if err != nil {
		return err
	}
	say("report: the backlog at a glance, read-only, from sweep's own dry-run judgement")
	glance, err := runReport(ctx, bin, kc, stderr, dry)
	if err != nil {
		return err
	}
	say("sweep")
	swept, err := runHook(ctx, bin, kc, stderr, "sweep", "--older-than", "0s", "-o", "json")
	if err != nil {
		return err
	}
	after, err := census(ctx, kube, ns)
	if err != nil {
		return err
	}
	say("report again: what the sweep left, and why")
	glanceAfter, err := runReport(ctx, bin, kc, stderr, nil)
	if err != nil {
		return err
	}
	lost, err := w.lostInUse(ctx, kube, ns)
	if err != nil {
		return err
	}
	report(stdout, before, after, cleanup, dry, swept, lost, w)
	fmt.Fprintf(stdout, "\nThe backlog before the sweep (sparkcm-hook report)\n%s", glance)
	fmt.Fprintf(stdout, "\nAnd after it\n%s", glanceAfter)
	if err := apacheStep(ctx, cp, bin, stdout, stderr, say); err != nil {
		return err
	}
	cp.Stop() // the last step starts a control plane of its own, with a node
	if err := nodeStep(ctx, stdout, say); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndemo finished in %s; everything it started is stopped\n", time.Since(start).Round(time.Second))
	return nil
}

// world remembers what the checks at the end need.
type world struct {
	justFinished *finished
	inUse        []string
}

func seed(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns string, o options) (*world, error) {
	w := &world{}
	apps, err := sparkfixture.Bulk(ctx, kube, dyn, ns, o.maps, sparkfixture.BulkOptions{})
	if err != nil {
		return nil, err
	}
	for i := 0; i < o.running; i++ {
		if _, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1}); err != nil {
			return nil, err
		}
	}
	for i := 0; i < o.userMaps; i++ {
		if _, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{UserSparkConfigMap: "team-spark-defaults", UserHadoopConfigMap: "team-hadoop-site"}); err != nil {
			return nil, err
		}
	}
	// Notebooks and dashboards that still read some finished applications'
	// maps: those maps must survive.
	for i := 0; i < o.inUse && i < len(apps); i++ {
		cm := apps[i].DriverConfMap
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("notebook-%d", i)}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "jupyter", Image: "jupyter/pyspark-notebook"}},
			Volumes:    []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}},
		}}
		if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		if err := sparkfixture.SetPodPhase(ctx, kube, ns, pod.Name, corev1.PodRunning); err != nil {
			return nil, err
		}
		w.inUse = append(w.inUse, cm)
	}
	for i := 0; i < o.others; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("airflow-pipeline-%03d", i)}, Data: map[string]string{"k": "v"}}
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *world) lostInUse(ctx context.Context, kube kubernetes.Interface, ns string) (int, error) {
	lost := 0
	for _, name := range w.inUse {
		if _, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			lost++
		}
	}
	return lost, nil
}

// census counts the namespace's maps by what they are.
func census(ctx context.Context, kube kubernetes.Interface, ns string) (map[string]int, error) {
	list, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range list.Items {
		kind := string(rule.KindOf(m.Name))
		if strings.HasPrefix(m.Name, "team-") {
			kind = "user-supplied"
		} else if kind == string(rule.KindNotGenerated) {
			kind = "other"
		}
		out[kind]++
		out["total"]++
	}
	return out, nil
}

type hookRun struct {
	res      hook.Result
	code     int
	duration time.Duration
}

func runHook(ctx context.Context, bin, kubeconfig string, stderr io.Writer, args ...string) (*hookRun, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, stderr
	start := time.Now()
	err := cmd.Run()
	r := &hookRun{duration: time.Since(start)}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out.Bytes(), &r.res); err != nil {
		return nil, fmt.Errorf("sparkcm-hook %s: exit %d, output is not JSON: %w", args[0], r.code, err)
	}
	if r.code != 0 {
		return nil, fmt.Errorf("sparkcm-hook %s exited %d", args[0], r.code)
	}
	return r, nil
}

// runReport runs `report` (json, then text) and checks that it counts what
// sweep --dry-run decided, or, with dry nil (after the sweep), that nothing
// is left for a sweep to delete: it returns the text to show.
func runReport(ctx context.Context, bin, kubeconfig string, stderr io.Writer, dry *hookRun) (string, error) {
	var out [2]bytes.Buffer
	for i, format := range []string{"json", "text"} {
		cmd := exec.CommandContext(ctx, bin, "--kubeconfig", kubeconfig, "report", "--sizes", "-o", format)
		cmd.Stdout, cmd.Stderr = &out[i], stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("sparkcm-hook report -o %s: %w", format, err)
		}
	}
	var r hook.ReportResult
	if err := json.Unmarshal(out[0].Bytes(), &r); err != nil {
		return "", fmt.Errorf("sparkcm-hook report: output is not JSON: %w", err)
	}
	if dry == nil {
		if r.Total.WouldDelete != 0 || r.Total.Failed != 0 {
			return "", fmt.Errorf("report after the sweep: %d maps a sweep would still delete, %d failed", r.Total.WouldDelete, r.Total.Failed)
		}
		return out[1].String(), nil
	}
	if r.Total.WouldDelete != len(dry.res.Deleted) || r.Total.Kept != len(dry.res.Skipped) || r.Total.Failed != len(dry.res.Failed) {
		return "", fmt.Errorf("report counts %d would delete, %d kept, %d failed; sweep --dry-run decided %d, %d, %d",
			r.Total.WouldDelete, r.Total.Kept, r.Total.Failed, len(dry.res.Deleted), len(dry.res.Skipped), len(dry.res.Failed))
	}
	return out[1].String(), nil
}

func report(w io.Writer, before, after map[string]int, cleanup, dry, swept *hookRun, lost int, wd *world) {
	fmt.Fprintln(w, "\nConfigMaps in namespace data-jobs")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tbefore\tafter\t")
	kinds := []string{string(rule.KindDriverConf), string(rule.KindExecutorConf), string(rule.KindPodTemplate), string(rule.KindHadoopConf), string(rule.KindKrb5), "user-supplied", "other", "total"}
	for _, k := range kinds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", k, before[k], after[k])
	}
	tw.Flush()

	fmt.Fprintln(w, "\nRuns of the real sparkcm-hook binary")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tdeleted\tskipped\tfailed\ttime\t")
	for _, r := range []struct {
		name string
		run  *hookRun
	}{{"cleanup --driver-pod " + wd.justFinished.driverPod, cleanup}, {"sweep --dry-run (would delete)", dry}, {"sweep", swept}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t\n", r.name, len(r.run.res.Deleted), len(r.run.res.Skipped), len(r.run.res.Failed), r.run.duration.Round(10*time.Millisecond))
	}
	tw.Flush()

	wd.justFinished.report(w, cleanup)

	fmt.Fprintln(w, "\nWhat sweep kept, and why")
	reasons := map[string]int{}
	for _, e := range swept.res.Skipped {
		reasons[groupReason(e.Reason)]++
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %d\t%s\n", reasons[k], k)
	}
	tw.Flush()
	perMap := time.Duration(0)
	if n := len(swept.res.Deleted); n > 0 {
		perMap = swept.duration / time.Duration(n)
	}
	fmt.Fprintf(w, "\nsweep deleted %d maps in %s (%s a map); in-use maps lost: %d\n", len(swept.res.Deleted), swept.duration.Round(10*time.Millisecond), perMap.Round(time.Microsecond), lost)
}

// groupReason folds per-object details out of a skip reason so the summary
// groups alike reasons.
func groupReason(r string) string {
	for _, prefix := range []string{"in use by Pod", "application still running", "user-supplied", "has another owner", "labelled for another application"} {
		if strings.HasPrefix(r, prefix) {
			return prefix
		}
	}
	return r
}

// namespaceWithKubeconfig creates namespace ns and a temporary directory
// (the caller removes it) holding "kubeconfig", the admin's, with ns as its
// namespace: what each step hands the binary and helm.
func namespaceWithKubeconfig(ctx context.Context, cp *kubecluster.ControlPlane, ns string) (string, error) {
	if err := cp.CreateNamespace(ctx, ns); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "sparkcm-demo-"+ns+"-")
	if err != nil {
		return "", err
	}
	if err := kubecluster.WriteKubeconfig(filepath.Join(dir, "kubeconfig"), cp.AdminConfig(), ns); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}
