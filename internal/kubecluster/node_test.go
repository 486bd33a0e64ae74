package kubecluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

const nodeHelperEnv = "SPARKCM_TESTBED_NODE_HELPER"

// startRunningPod starts a Pod that runs until it is deleted, with a
// ConfigMap volume and the projected token, so the node holds a container,
// its sandbox, a shim and volume mounts.
func startRunningPod(ctx context.Context, c *kubecluster.ControlPlane, ns string) error {
	kube := c.Clientset()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"k": "v"}}
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return err
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "runs-until-deleted"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes:       []corev1.Volume{{Name: "settings", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}},
			Containers: []corev1.Container{{
				Name: "stub", Image: kubecluster.StubImage, ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: "settings", MountPath: "/etc/settings"}},
			}},
		},
	}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	return waitPodPhase(ctx, kube, ns, pod.Name, corev1.PodRunning)
}

func waitPodPhase(ctx context.Context, kube kubernetes.Interface, ns, name string, phase corev1.PodPhase) error {
	var last corev1.PodPhase
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = p.Status.Phase
		return last == phase, nil
	})
	if err != nil {
		return fmt.Errorf("pod %s/%s: want %s, last %s: %w", ns, name, phase, last, err)
	}
	return nil
}

// mountsUnder lists this machine's mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

func logSymlinksInto(dir string) []string {
	var out []string
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
			out = append(out, l)
		}
	}
	return out
}

// assertNodeGone checks that nothing of the node with these pids, this dir
// and these files elsewhere is left: no process, no mount, no file, no log
// link, no shim socket.
func assertNodeGone(t *testing.T, pids []int, dir string, hostFiles []string) {
	t.Helper()
	waitAllDead(t, pids)
	for _, f := range hostFiles {
		if _, err := os.Lstat(f); err == nil {
			t.Errorf("%s left behind", f)
		}
	}
	if m := mountsUnder(t, dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", dir, m)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there: %v", dir, err)
	}
	if l := logSymlinksInto(dir); len(l) > 0 {
		t.Errorf("log links left in /var/log/containers: %v", l)
	}
}

func TestNodeRunsPodsAndStopLeavesNoProcessMountOrFile(t *testing.T) {
	kubecluster.SkipWithoutNode(t)
	c := kubecluster.ForTest(t, kubecluster.Options{Node: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := c.NewNamespace(t)
	if err := startRunningPod(ctx, c, ns); err != nil {
		t.Fatal(err)
	}
	pids := c.NodePIDs()
	// kube-scheduler, containerd, kubelet, at least one shim, the sandbox and the container.
	if len(pids) < 6 {
		t.Fatalf("want the node's components, a shim and two containers, got pids %v", pids)
	}
	dir := c.Dir()
	if len(mountsUnder(t, dir)) == 0 {
		t.Fatalf("a running Pod mounted nothing under %s: the test would prove nothing", dir)
	}
	hostFiles := c.NodeHostFiles()
	// A shim socket and the container's log link.
	if len(hostFiles) < 2 {
		t.Fatalf("want the node's files outside its dir, got %v", hostFiles)
	}
	c.Stop()
	assertNodeGone(t, append(pids, c.PIDs()...), dir, hostFiles)
}

// runNodeHelper starts a control plane with a node and a running Pod, prints
// every pid and the dir, and blocks until it is killed: the child-process
// half of TestStaleNodeOfAKilledRunIsCleanedByTheNextStart.
func runNodeHelper() {
	c, err := startStaleNode()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, pid := range append(c.PIDs(), c.NodePIDs()...) {
		fmt.Println(pid)
	}
	fmt.Println("dir", c.Dir())
	for _, f := range c.NodeHostFiles() {
		fmt.Println("file", f)
	}
	fmt.Println("ready")
	select {}
}

// startStaleNode starts the node the helper leaves behind, with a Pod
// running on it.
func startStaleNode() (*kubecluster.ControlPlane, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := kubecluster.Start(ctx, kubecluster.Options{Node: true})
	if err == nil {
		err = c.CreateNamespace(ctx, "stale")
	}
	if err == nil {
		err = startRunningPod(ctx, c, "stale")
	}
	return c, err
}

func TestStaleNodeOfAKilledRunIsCleanedByTheNextStart(t *testing.T) {
	kubecluster.SkipWithoutNode(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), nodeHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	var dir string
	var files []string
	s := bufio.NewScanner(out)
	for s.Scan() && s.Text() != "ready" {
		if d, ok := strings.CutPrefix(s.Text(), "dir "); ok {
			dir = d
			continue
		}
		if f, ok := strings.CutPrefix(s.Text(), "file "); ok {
			files = append(files, f)
			continue
		}
		pid, err := strconv.Atoi(s.Text())
		if err != nil {
			t.Fatalf("helper said %q", s.Text())
		}
		pids = append(pids, pid)
	}
	if dir == "" || len(pids) < 9 || len(files) < 2 {
		_ = cmd.Process.Kill()
		t.Fatalf("helper gave dir %q, pids %v and files %v; want the control plane, the node, a shim, two containers, its socket and a log link", dir, pids, files)
	}
	if len(mountsUnder(t, dir)) == 0 {
		_ = cmd.Process.Kill()
		t.Fatalf("the helper's node mounted nothing under %s", dir)
	}
	// SIGKILL: no Stop runs. Pdeathsig takes the kubelet and containerd down,
	// but the shims and containers live on by design, and the mounts stay.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	// The next Start, even one without a node, finds the dead owner and
	// cleans up after it.
	kubecluster.ForTest(t, kubecluster.Options{}).Stop()
	assertNodeGone(t, pids, dir, files)
}
