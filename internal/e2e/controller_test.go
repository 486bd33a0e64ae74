package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// freePort is a TCP port nothing on this host listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// readyControllerPods waits until the release's controller Deployment has
// want Pods the kubelet reports Ready (its readiness probe on /readyz
// passed) and returns them.
func readyControllerPods(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, ns, release string, want int) []corev1.Pod {
	t.Helper()
	kube := c.Clientset()
	sel := "app.kubernetes.io/instance=" + release + ",app.kubernetes.io/component=controller"
	var ready []corev1.Pod
	var last []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		last, ready = list.Items, nil
		for _, p := range list.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready = append(ready, p)
				}
			}
		}
		return len(ready) == want, nil
	})
	if err != nil {
		for i := range last {
			t.Logf("%s\nlog:\n%s", describe(&last[i]), tail(containerLogOrErr(c, &last[i], "controller"), 20))
		}
		t.Fatalf("%d of %d controller Pods of %s Ready: %v", len(ready), want, release, err)
	}
	return ready
}

func containerLogOrErr(c *kubecluster.ControlPlane, pod *corev1.Pod, container string) string {
	out, err := c.ContainerLog(pod.Namespace, pod.Name, pod.UID, container)
	if err != nil {
		return err.Error()
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// leaderGauge reads sparkcm_hook_leader from a replica's /metrics. Every
// Pod on the test node shares the host's network, so the test reaches the
// port the chart gave it on loopback.
func leaderGauge(ctx context.Context, t *testing.T, port int) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics on port %d: %v", port, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "sparkcm_hook_leader "); ok {
			return v
		}
	}
	t.Fatalf("no sparkcm_hook_leader in /metrics on port %d:\n%s", port, b)
	return ""
}

// The chart's controller mode on the real node: the kubelet starts the
// Deployment's Pods and probes them; the leader deletes a finished
// application's maps with no call from the test, and keeps a running
// one's. Every Pod on the test node shares the host's network namespace
// (there is no Pod network), so two replicas of one Deployment cannot both
// listen on its port; the two replicas here are two releases of the chart
// sharing one Lease (controller.leaseName), each with its own port: the
// same election, between two Deployments' Pods.
func TestChartControllerModeOnTheNodeCleansAFinishedApplicationWithOneLeader(t *testing.T) {
	c := node(t)
	ctx := ctxFor(t, 8*time.Minute)
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	const lease = "sparkcm-hook-controller"
	releases := []string{"ctl-a", "ctl-b"}
	ports := map[string]int{}
	for _, r := range releases {
		ports[r] = freePort(t)
		installChart(t, c, r, ns, "mode=controller", "controller.replicas=1", "controller.leaseName="+lease,
			"controller.httpPort="+strconv.Itoa(ports[r]), "controller.grace=1s")
	}
	podRelease := map[string]string{}
	for _, r := range releases {
		for _, p := range readyControllerPods(ctx, t, c, ns, r, 1) {
			if p.Spec.NodeName != c.NodeName() || p.Spec.ServiceAccountName != r+"-sparkcm-hook" {
				t.Errorf("controller Pod %s ran on %q as %q, want the test node and the release's ServiceAccount", p.Name, p.Spec.NodeName, p.Spec.ServiceAccountName)
			}
			podRelease[p.Name] = r
		}
	}

	// Exactly one replica holds the Lease, and only it says it leads.
	var holder string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := admin.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, nil //nolint:nilerr // not created or not held yet
		}
		holder = *l.Spec.HolderIdentity
		return podRelease[holder] != "" && leaderGauge(ctx, t, ports[podRelease[holder]]) == "1", nil
	})
	if err != nil {
		t.Fatalf("Lease %s held by %q, want one of the controller Pods %v leading: %v", lease, holder, podRelease, err)
	}
	for name, r := range podRelease {
		if got, want := leaderGauge(ctx, t, ports[r]), map[bool]string{true: "1", false: "0"}[name == holder]; got != want {
			t.Errorf("replica %s reports sparkcm_hook_leader %s, want %s (the Lease holder is %s)", name, got, want, holder)
		}
	}

	// A finished application and a running one, made the way Spark and the
	// operator make them; the test calls nothing of sparkcm-hook after this.
	finished, running := finishedAndRunning(ctx, t, c, ns)
	before := mapUIDs(ctx, t, admin, ns)
	start := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		now := mapUIDs(ctx, t, admin, ns)
		return !slices.ContainsFunc(finished.MapNames(), func(n string) bool { _, ok := now[n]; return ok }), nil
	})
	if err != nil {
		leaderPod, _ := admin.CoreV1().Pods(ns).Get(ctx, holder, metav1.GetOptions{})
		if leaderPod != nil {
			t.Logf("leader log:\n%s", tail(containerLogOrErr(c, leaderPod, "controller"), 40))
		}
		t.Fatalf("the finished application's maps %v are still there: %v", finished.MapNames(), err)
	}
	t.Logf("the finished application's %d maps were gone %.1fs after its objects were all made, with no call from the test", len(finished.MapNames()), time.Since(start).Seconds())

	after := mapUIDs(ctx, t, admin, ns)
	for _, name := range append([]string{"team-spark-defaults"}, running.MapNames()...) {
		if after[name] == "" || after[name] != before[name] {
			t.Errorf("ConfigMap %s was deleted or replaced", name)
		}
	}
	assertOnlyTheLeaderDeleted(ctx, t, c, admin, ns, holder, finished)
}

// assertOnlyTheLeaderDeleted reads every controller replica's log: the
// leader's says it cleaned the finished application (its id), a
// follower's never names it.
func assertOnlyTheLeaderDeleted(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, kube kubernetes.Interface, ns, leader string, app *sparkfixture.App) {
	t.Helper()
	list, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=controller"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		p := &list.Items[i]
		log := containerLogOrErr(c, p, "controller")
		mentions := strings.Contains(log, app.AppID)
		if p.Name == leader && !mentions {
			t.Errorf("the leader %s's log does not name %s:\n%s", p.Name, app.AppID, tail(log, 30))
		}
		if p.Name != leader && mentions {
			t.Errorf("follower %s's log names %s: a follower must not clean:\n%s", p.Name, app.AppID, tail(log, 30))
		}
	}
}
