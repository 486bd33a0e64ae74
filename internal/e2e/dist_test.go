package e2e_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// distDir is what make dist writes for the node's platform (binaries for
// linux on amd64 and arm64, so that the image is the multi-architecture
// index a user gets, the image and the chart), built by hack/dist.sh.
func distDir(t *testing.T) string {
	t.Helper()
	root, err := kubecluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command(filepath.Join(root, "hack", "dist.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DIST_DIR="+out, "DIST_PLATFORMS=linux/amd64 linux/arm64", "DIST_PARTS=bin image chart")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/dist.sh: %v\n%s", err, stderr.String())
	}
	return out
}

func oneFile(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) != 1 {
		t.Fatalf("want one %s, got %v (%v)", pattern, m, err)
	}
	return m[0]
}

// The chart as published: installed from the .tgz helm package wrote, with
// no image value set, it runs the image make dist wrote (loaded into the
// node's containerd from the tarball, the way an air-gapped cluster gets
// it). Its CronJob's Jobs sweep on the node, the one-off command its NOTES
// print works twice, and `helm test` passes.
func TestPackagedChartWithTheDistImageSweepsAndPassesHelmTest(t *testing.T) {
	c := node(t)
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Fatalf("make dist builds images for amd64 and arm64, not %s", runtime.GOARCH)
	}
	dist := distDir(t)
	ctx := ctxFor(t, 10*time.Minute)
	if err := c.ImportImage(ctx, oneFile(t, filepath.Join(dist, "sparkcm-hook-image-*.oci.tar"))); err != nil {
		t.Fatal(err)
	}
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	kubeconfig := adminKubeconfig(t, c)
	out := helm(t, "install", "sparkcm-hook", oneFile(t, filepath.Join(dist, "sparkcm-hook-*.tgz")),
		"--kubeconfig", kubeconfig, "--namespace", ns,
		"--set", "image.pullPolicy=Never", "--set", "sweep.olderThan=0s")

	// The one-off sweep the NOTES print, run as printed, twice.
	_, notes, ok := strings.Cut(out, "Run a sweep now")
	if !ok {
		t.Fatalf("helm install printed no one-off sweep:\n%s", out)
	}
	var script []string
	for _, line := range strings.Split(notes, "\n")[1:] {
		if !strings.HasPrefix(line, "  ") {
			if len(script) > 0 {
				break
			}
			continue
		}
		script = append(script, strings.TrimSpace(line))
	}
	if len(script) == 0 {
		t.Fatalf("no command lines after 'Run a sweep now':\n%s", notes)
	}
	// The test bed's API server never dials the kubelet, so `kubectl logs`
	// cannot answer here: the script names the Job instead, and the test
	// reads the same log from the node.
	text := strings.Join(script, "\n")
	logs := regexp.MustCompile(`kubectl -n \S+ logs "job/\$job"`)
	if !logs.MatchString(text) {
		t.Fatalf("the NOTES' one-off sweep does not read the Job's log:\n%s", text)
	}
	text = logs.ReplaceAllLiteralString(text, `echo "ran job $job"`)
	for run := 1; run <= 2; run++ {
		app, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, Executors: 1})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", text)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d of the NOTES' one-off sweep:\n%s\n%v\n%s", run, text, err, b)
		}
		m := regexp.MustCompile(`ran job (\S+)`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("run %d: no Job name in\n%s", run, b)
		}
		pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + string(m[1])})
		if err != nil || len(pods.Items) != 1 {
			t.Fatalf("run %d: Pods of Job %s: %v (%v)", run, m[1], pods, err)
		}
		b = []byte(containerLog(t, c, &pods.Items[0], "sweep"))
		after := mapUIDs(ctx, t, admin, ns)
		for _, name := range app.MapNames() {
			if _, ok := after[name]; ok {
				t.Errorf("run %d: leftover %s of finished application %s is still there", run, name, app.Name)
			}
			if !strings.Contains(string(b), name) {
				t.Errorf("run %d: the Job's ledger does not mention %s:\n%s", run, name, b)
			}
		}
	}
	jobs, err := admin.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	complete := 0
	for _, j := range jobs.Items {
		for _, cond := range j.Status.Conditions {
			if cond.Type == batchv1.JobComplete && cond.Status == "True" {
				complete++
			}
		}
		if img := j.Spec.Template.Spec.Containers[0].Image; !strings.HasPrefix(img, "sparkcm-hook:") {
			t.Errorf("Job %s ran image %q, want the chart's own sparkcm-hook:<appVersion>", j.Name, img)
		}
	}
	if complete != 2 {
		t.Errorf("%d Jobs from the CronJob completed, want 2", complete)
	}

	// helm test: rbac preflight --for sweep as the chart's ServiceAccount.
	t.Log(helm(t, "test", "sparkcm-hook", "--kubeconfig", kubeconfig, "--namespace", ns, "--timeout", "5m"))
}
