package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// nodeStep is the demo's last step: on a fresh control plane with a real node,
// the Helm chart is installed with helm, and its CronJob's Pod (the image,
// under the chart's ServiceAccount) sweeps what two finished applications,
// whose Pods the kubelet ran, left behind, and keeps a running one's maps;
// then the release switches to the controller (controllerStep). It needs
// root; otherwise it says why it skipped.
func nodeStep(ctx context.Context, stdout io.Writer, say func(string, ...any)) error {
	if why := kubecluster.NodeUnavailable(); why != "" {
		say("skipped the last step (the chart's CronJob Pod and controller on a real node): %s", why)
		// make test-clone runs this: its summary must count the step as the node tier skipped.
		return kubecluster.RecordTierSkip("node", "demo: "+why)
	}
	helm, err := helmBinary(ctx)
	if err != nil {
		return err
	}
	say("last step: a control plane with a real node (kubelet, containerd, runc)")
	cp, err := kubecluster.Start(ctx, kubecluster.Options{Node: true})
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
	root, err := kubecluster.RepoRoot()
	if err != nil {
		return err
	}
	repo, tag, _ := strings.Cut(kubecluster.HookImage, ":")
	say("helm install sparkcm-hook deploy/helm/sparkcm-hook (sweep.olderThan=0s)")
	h := helmEnv{helm, dir, kc, root}
	if err := h.run(ctx, "install", "sparkcm-hook", filepath.Join(root, "deploy", "helm", "sparkcm-hook"),
		"--namespace", ns, "--set", "image.repository="+repo, "--set", "image.tag="+tag,
		"--set", "image.pullPolicy=Never", "--set", "sweep.olderThan=0s"); err != nil {
		return err
	}
	kube, dyn := cp.Clientset(), cp.Dynamic()
	say("two Spark applications run to completion on the node, a third keeps running")
	var finished []*sparkfixture.App
	for _, spec := range []sparkfixture.Spec{
		{NodeImage: kubecluster.StubImage, Executors: 1, PodTemplate: true},
		{NodeImage: kubecluster.StubImage, State: sparkfixture.StateFailed, Executors: 1},
	} {
		app, err := sparkfixture.Create(ctx, kube, dyn, ns, spec)
		if err != nil {
			return err
		}
		finished = append(finished, app)
	}
	running, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, State: sparkfixture.StateRunning, Executors: 1})
	if err != nil {
		return err
	}
	say("kubectl create job --from=cronjob/sparkcm-hook: the Job's Pod runs the image and sweeps")
	start := time.Now()
	job, err := kubecluster.TriggerCronJob(ctx, kube, ns, "sparkcm-hook", "sparkcm-hook-demo")
	if err != nil {
		return err
	}
	result, pods, err := kubecluster.WaitForJob(ctx, kube, job, 3*time.Minute)
	if err != nil {
		return err
	}
	if len(pods) != 1 {
		return fmt.Errorf("job %s made %d Pods, want 1", job.Name, len(pods))
	}
	pod := pods[0]
	log, err := cp.ContainerLog(ns, pod.Name, pod.UID, "sweep")
	if err != nil {
		return err
	}
	// The result is stdout alone: stderr's log lines land anywhere in the
	// combined log, also in the middle of the result.
	out, err := cp.ContainerStdout(ns, pod.Name, pod.UID, "sweep")
	if err != nil {
		return err
	}
	var res hook.Result
	_ = json.Unmarshal([]byte(out), &res)
	want := 0
	for _, a := range finished {
		want += len(a.Maps)
	}
	fmt.Fprintf(stdout, "\nThe chart's CronJob on a real node\n")
	fmt.Fprintf(stdout, "  Job %s: %s in %s; Pod %s ran as ServiceAccount %s on node %s\n", job.Name, result,
		time.Since(start).Round(100*time.Millisecond), pod.Name, pod.Spec.ServiceAccountName, pod.Spec.NodeName)
	fmt.Fprintf(stdout, "  the Pod's sweep deleted %d maps of the %d finished applications (%d expected), kept %d of the running one\n",
		len(res.Deleted), len(finished), want, len(running.Maps))
	if result != batchv1.JobComplete || len(res.Deleted) != want {
		return fmt.Errorf("the CronJob's Pod did not sweep as expected; its log:\n%s", log)
	}
	return controllerStep(ctx, cp, h, ns, running, stdout, say)
}

// helmEnv runs the real helm against the demo's control plane, with its own
// empty home folders.
type helmEnv struct{ bin, dir, kubeconfig, root string }

func (h helmEnv) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, h.bin, append(args, "--kubeconfig", h.kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(h.dir, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(h.dir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(h.dir, "helm-data"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("helm %s: %w\n%s", args[0], err, out)
	}
	return nil
}

// controllerStep switches the release to mode=controller: the kubelet runs
// the controller's Pod and probes it, and a spark-submit application whose
// driver ends on the node loses its maps seconds later, with no call from
// Airflow or anyone. The seconds are measured and printed, never judged.
func controllerStep(ctx context.Context, cp *kubecluster.ControlPlane, h helmEnv, ns string, running *sparkfixture.App, stdout io.Writer, say func(string, ...any)) error {
	// Every Pod on the demo's node shares the host's network: one replica,
	// on a port nothing else here uses.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	say("helm upgrade --set mode=controller: the CronJob gives way to the controller's Deployment")
	if err := h.run(ctx, "upgrade", "sparkcm-hook", filepath.Join(h.root, "deploy", "helm", "sparkcm-hook"), "--namespace", ns, "--reuse-values",
		"--set", "mode=controller", "--set", "controller.replicas=1", "--set", "controller.httpPort="+strconv.Itoa(port)); err != nil {
		return err
	}
	kube := cp.Clientset()
	var pod corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=controller"})
		if err != nil {
			return false, err
		}
		for _, p := range list.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					pod = p
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("the controller's Pod is not Ready: %w", err)
	}
	say("controller Pod %s is Ready (the kubelet's probe on /readyz); a spark-submit application runs 3s on the node", pod.Name)
	app, err := sparkfixture.Create(ctx, kube, cp.Dynamic(), ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, NoSparkApplication: true,
		State: sparkfixture.StateRunning, Executors: 1, DriverRun: 3 * time.Second})
	if err != nil {
		return err
	}
	if err := sparkfixture.WaitForPodPhase(ctx, kube, ns, app.DriverPod, corev1.PodSucceeded); err != nil {
		return err
	}
	ended := time.Now()
	left := func(ctx context.Context, names []string) (int, error) {
		n := 0
		for _, name := range names {
			_, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			switch {
			case err == nil:
				n++
			case !apierrors.IsNotFound(err):
				return 0, err
			}
		}
		return n, nil
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := left(ctx, app.MapNames())
		return n == 0, err
	})
	if err != nil {
		return fmt.Errorf("the finished application's maps are still there: %w", err)
	}
	gone := time.Since(ended)
	kept, err := left(ctx, running.MapNames())
	if err != nil {
		return err
	}
	holder := "nobody"
	if l, err := kube.CoordinationV1().Leases(ns).Get(ctx, "sparkcm-hook", metav1.GetOptions{}); err == nil && l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	fmt.Fprintf(stdout, "\nThe chart's controller on a real node (helm upgrade --set mode=controller)\n")
	fmt.Fprintf(stdout, "  Pod %s Ready by the kubelet's /readyz probe; Lease sparkcm-hook held by %s\n", pod.Name, holder)
	fmt.Fprintf(stdout, "  application %s: its driver Pod ended on the node; its %d maps were gone %.1fs later, with no call from Airflow or anyone\n",
		app.AppID, len(app.Maps), gone.Seconds())
	fmt.Fprintf(stdout, "  the running application kept %d of its %d maps\n", kept, len(running.Maps))
	if kept != len(running.Maps) {
		return fmt.Errorf("the controller deleted a map of the running application %s", running.AppID)
	}
	return nil
}

func helmBinary(ctx context.Context) (string, error) {
	if p := os.Getenv("SPARKCM_HELM"); p != "" {
		return p, nil
	}
	root, err := kubecluster.RepoRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(root, "hack", "helm.sh")).Output()
	if err != nil {
		return "", fmt.Errorf("hack/helm.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
