package e2e_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// installChart installs deploy/helm/sparkcm-hook with real helm, the image
// the node holds, and a sweep that counts every map as old enough; set are
// more --set values.
func installChart(t *testing.T, c *kubecluster.ControlPlane, release, ns string, set ...string) {
	t.Helper()
	root, err := kubecluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(kubecluster.HookImage, ":")
	args := []string{"install", release, filepath.Join(root, "deploy", "helm", "sparkcm-hook"),
		"--kubeconfig", adminKubeconfig(t, c), "--namespace", ns,
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "sweep.olderThan=0s"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	helm(t, args...)
}

// waitJob waits until the Job is Complete or Failed and returns which, with
// the one Pod that ran it.
func waitJob(ctx context.Context, t *testing.T, kube kubernetes.Interface, job *batchv1.Job) (batchv1.JobConditionType, *corev1.Pod) {
	t.Helper()
	result, pods, err := kubecluster.WaitForJob(ctx, kube, job, 3*time.Minute)
	if err != nil {
		for i := range pods {
			t.Log(describe(&pods[i]))
		}
		t.Fatal(err)
	}
	if len(pods) != 1 {
		t.Fatalf("job %s ran %d Pods, want 1", job.Name, len(pods))
	}
	return result, &pods[0]
}

func triggerCronJob(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns, name, jobName string) *batchv1.Job {
	t.Helper()
	job, err := kubecluster.TriggerCronJob(ctx, kube, ns, name, jobName)
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func TestChartCronJobPodSweepsOnTheNodeAndFailsWithExitThreeWithoutItsRoleBinding(t *testing.T) {
	c := node(t)
	ctx := ctxFor(t, 8*time.Minute)
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	installChart(t, c, "sparkcm-hook", ns)

	// A finished application whose driver and executor the kubelet ran to
	// Succeeded, and one whose driver still runs.
	finished, running := finishedAndRunning(ctx, t, c, ns)
	before := mapUIDs(ctx, t, admin, ns)
	mustKeep := append([]string{"team-spark-defaults"}, running.MapNames()...)

	job := triggerCronJob(ctx, t, admin, ns, "sparkcm-hook", "sparkcm-hook-manual-1")
	result, pod := waitJob(ctx, t, admin, job)
	log := containerLog(t, c, pod, "sweep")
	t.Logf("%s\nlog:\n%s", describe(pod), log)
	if result != batchv1.JobComplete {
		t.Fatalf("sweep Job %s, want Complete", result)
	}
	if pod.Spec.ServiceAccountName != "sparkcm-hook" || pod.Spec.NodeName != c.NodeName() {
		t.Fatalf("the Job's Pod ran as %q on %q, want the chart's ServiceAccount on the test node", pod.Spec.ServiceAccountName, pod.Spec.NodeName)
	}
	after := mapUIDs(ctx, t, admin, ns)
	for _, name := range finished.MapNames() {
		if _, ok := after[name]; ok {
			t.Errorf("leftover %s of finished application %s is still there", name, finished.Name)
		}
		if !strings.Contains(log, name) {
			t.Errorf("the Pod's ledger does not mention %s", name)
		}
	}
	for _, name := range mustKeep {
		if after[name] != before[name] {
			t.Errorf("ConfigMap %s was deleted or replaced", name)
		}
	}

	// Without its RoleBinding the same CronJob's Pod is refused: exit 3, the
	// Job fails at once (podFailurePolicy), nothing is deleted.
	again, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RbacV1().RoleBindings(ns).Delete(ctx, "sparkcm-hook", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDenied(ctx, t, c, ns, "sparkcm-hook")
	before = mapUIDs(ctx, t, admin, ns)
	job = triggerCronJob(ctx, t, admin, ns, "sparkcm-hook", "sparkcm-hook-manual-2")
	result, pod = waitJob(ctx, t, admin, job)
	log = containerLog(t, c, pod, "sweep")
	t.Logf("%s\nlog:\n%s", describe(pod), log)
	if result != batchv1.JobFailed {
		t.Fatalf("sweep Job without its RoleBinding %s, want Failed", result)
	}
	if st := terminated(pod, "sweep"); st == nil || st.ExitCode != 3 {
		t.Fatalf("sweep container ended %+v, want exit code 3", st)
	}
	if !strings.Contains(strings.ToLower(log), "forbidden") {
		t.Errorf("the Pod's log does not say forbidden:\n%s", log)
	}
	after = mapUIDs(ctx, t, admin, ns)
	for _, name := range again.MapNames() {
		if after[name] == "" || after[name] != before[name] {
			t.Errorf("leftover %s deleted by a sweep without permission", name)
		}
	}
}

// waitDenied waits until RBAC no longer lets the ServiceAccount list
// ConfigMaps in ns (the authorizer learns of a deleted binding by a watch).
func waitDenied(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, ns, sa string) {
	t.Helper()
	cfg, err := c.ServiceAccountConfig(ctx, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(cfg)
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "list", Resource: "configmaps", Namespace: ns,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return !r.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("%s still allowed to list configmaps in %s: %v", sa, ns, err)
	}
}
