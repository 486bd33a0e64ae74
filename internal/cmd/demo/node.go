package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// nodeStep is the demo's last step: on a fresh control plane with a real node,
// the Helm chart is installed with helm, and its CronJob's Pod (the image,
// under the chart's ServiceAccount) sweeps what two finished applications,
// whose Pods the kubelet ran, left behind, and keeps a running one's maps.
// It needs root; otherwise it says why it skipped.
func nodeStep(ctx context.Context, stdout io.Writer, say func(string, ...any)) error {
	if why := kubecluster.NodeUnavailable(); why != "" {
		say("skipped the last step (the chart's CronJob Pod on a real node): %s", why)
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
	if err := cp.CreateNamespace(ctx, ns); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sparkcm-demo-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kc := filepath.Join(dir, "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kc, cp.AdminConfig(), ns); err != nil {
		return err
	}
	root, err := kubecluster.RepoRoot()
	if err != nil {
		return err
	}
	repo, tag, _ := strings.Cut(kubecluster.HookImage, ":")
	say("helm install sparkcm-hook deploy/helm/sparkcm-hook (sweep.olderThan=0s)")
	install := exec.CommandContext(ctx, helm, "install", "sparkcm-hook", filepath.Join(root, "deploy", "helm", "sparkcm-hook"),
		"--kubeconfig", kc, "--namespace", ns, "--set", "image.repository="+repo, "--set", "image.tag="+tag,
		"--set", "image.pullPolicy=Never", "--set", "sweep.olderThan=0s")
	install.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(dir, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(dir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(dir, "helm-data"))
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("helm install: %w\n%s", err, out)
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
