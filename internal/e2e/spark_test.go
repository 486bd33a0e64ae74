package e2e_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func clients(t *testing.T, c *kubecluster.ControlPlane) hook.Clients {
	t.Helper()
	cl, err := hook.NewClients(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func entryNames(entries []hook.Entry) []string {
	out := []string{}
	for _, e := range entries {
		out = append(out, e.Name)
	}
	sort.Strings(out)
	return out
}

func sortedCopy(in []string) []string {
	out := append([]string{}, in...)
	sort.Strings(out)
	return out
}

// onNode creates an application whose Pods the kubelet runs to their phase.
func onNode(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, ns string, spec sparkfixture.Spec) *sparkfixture.App {
	t.Helper()
	spec.NodeImage = kubecluster.StubImage
	app, err := sparkfixture.Create(ctx, c.Clientset(), c.Dynamic(), ns, spec)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func TestCleanupOfApplicationsWhosePodsTheKubeletRan(t *testing.T) {
	c := node(t)
	ctx := ctxFor(t, 5*time.Minute)
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	completed := onNode(ctx, t, c, ns, sparkfixture.Spec{PodTemplate: true, Hadoop: true, Krb5: true, Executors: 1, UserSparkConfigMap: "team-spark-defaults"})
	failed := onNode(ctx, t, c, ns, sparkfixture.Spec{State: sparkfixture.StateFailed, Executors: 1})
	running := onNode(ctx, t, c, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1, UserSparkConfigMap: "team-spark-defaults"})
	for _, app := range []*sparkfixture.App{completed, failed} {
		pod, err := admin.CoreV1().Pods(ns).Get(ctx, app.DriverPod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The phase and the container's exit are the kubelet's, not a patch.
		if st := terminated(pod, "spark-kubernetes-driver"); st == nil || st.ContainerID == "" || !strings.HasPrefix(st.ContainerID, "containerd://") {
			t.Fatalf("driver %s: %s; want a container the kubelet ran", app.DriverPod, describe(pod))
		}
	}

	before := mapUIDs(ctx, t, admin, ns)
	cl := clients(t, c)
	for _, app := range []*sparkfixture.App{completed, failed} {
		res, err := hook.Cleanup(ctx, cl, quiet(), hook.CleanupOptions{Namespace: ns, SparkApp: app.Name, NoEvent: true})
		if err != nil {
			t.Fatalf("cleanup %s: %v", app.Name, err)
		}
		if got, want := entryNames(res.Deleted), sortedCopy(app.MapNames()); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("cleanup %s deleted %v, want %v", app.Name, got, want)
		}
	}
	// A driver the kubelet still runs: nothing deleted, exit 4's error.
	res, err := hook.Cleanup(ctx, cl, quiet(), hook.CleanupOptions{Namespace: ns, SparkApp: running.Name, NoEvent: true})
	var still *hook.StillRunningError
	if !errors.As(err, &still) || len(res.Deleted) != 0 {
		t.Fatalf("cleanup of a running application: err %v, deleted %v; want StillRunningError and nothing", err, entryNames(res.Deleted))
	}
	after := mapUIDs(ctx, t, admin, ns)
	for _, name := range append([]string{"team-spark-defaults"}, running.MapNames()...) {
		if after[name] == "" || after[name] != before[name] {
			t.Errorf("%s was deleted or replaced", name)
		}
	}
}

func TestSweepOfApplicationsWhosePodsTheKubeletRan(t *testing.T) {
	c := node(t)
	ctx := ctxFor(t, 5*time.Minute)
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	completed := onNode(ctx, t, c, ns, sparkfixture.Spec{Executors: 1, Hadoop: true})
	failed := onNode(ctx, t, c, ns, sparkfixture.Spec{State: sparkfixture.StateFailed, Executors: 1})
	running := onNode(ctx, t, c, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1})
	// A finished application's Hadoop map that a notebook Pod still mounts.
	shared := onNode(ctx, t, c, ns, sparkfixture.Spec{Hadoop: true})
	hadoop := ""
	for _, n := range shared.MapNames() {
		if strings.HasSuffix(n, "-hadoop-config") {
			hadoop = n
		}
	}
	notebook := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "notebook"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Volumes:       []corev1.Volume{{Name: "hadoop", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: hadoop}}}}},
			Containers: []corev1.Container{{
				Name: "notebook", Image: kubecluster.StubImage, ImagePullPolicy: corev1.PullNever,
				VolumeMounts: []corev1.VolumeMount{{Name: "hadoop", MountPath: "/etc/hadoop"}},
			}},
		},
	}
	if _, err := admin.CoreV1().Pods(ns).Create(ctx, notebook, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sparkfixture.WaitForPodPhase(ctx, admin, ns, "notebook", corev1.PodRunning); err != nil {
		t.Fatal(err)
	}

	res, err := hook.Sweep(ctx, clients(t, c), quiet(), hook.SweepOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, completed.MapNames()...)
	want = append(want, failed.MapNames()...)
	for _, n := range shared.MapNames() {
		if n != hadoop {
			want = append(want, n)
		}
	}
	if got := entryNames(res.Deleted); strings.Join(got, ",") != strings.Join(sortedCopy(want), ",") {
		t.Fatalf("sweep deleted %v\nwant %v", got, sortedCopy(want))
	}
	left := mapUIDs(ctx, t, admin, ns)
	for _, name := range append([]string{hadoop}, running.MapNames()...) {
		if _, ok := left[name]; !ok {
			t.Errorf("%s was deleted", name)
		}
	}
	for _, e := range res.Skipped {
		if e.Name == hadoop && !strings.Contains(e.Reason, "in use by Pod notebook") {
			t.Errorf("%s skipped for %q, want in use by Pod notebook", hadoop, e.Reason)
		}
	}
}
