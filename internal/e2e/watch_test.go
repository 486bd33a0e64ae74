package e2e_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// sidecar is the container airflow/examples/spark-application.yaml puts in
// spec.driver.sidecars, with the image the node holds.
func sidecar() corev1.Container {
	return corev1.Container{
		Name:            "sparkcm-hook",
		Image:           kubecluster.HookImage,
		ImagePullPolicy: corev1.PullNever,
		Args:            []string{"watch"},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		},
	}
}

func TestWatchSidecarCleansUpWhenTheDriverEndsAndThePodFinishes(t *testing.T) {
	native := sidecar()
	native.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	for _, tc := range []struct {
		name string
		spec sparkfixture.Spec
	}{
		{"spec.driver.sidecars", sparkfixture.Spec{DriverSidecars: []corev1.Container{sidecar()}}},
		{"native sidecar", sparkfixture.Spec{DriverInitContainers: []corev1.Container{native}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := node(t)
			ctx := ctxFor(t, 5*time.Minute)
			ns := c.NewNamespace(t)
			admin := c.Clientset()
			grantDocumentedRole(ctx, t, admin, ns, "default")
			other, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, State: sparkfixture.StateRunning})
			if err != nil {
				t.Fatal(err)
			}
			// The driver runs a few seconds beside the sidecar, then exits 0.
			spec := tc.spec
			spec.NodeImage, spec.State, spec.DriverRun, spec.PodTemplate = kubecluster.StubImage, sparkfixture.StateRunning, 5*time.Second, true
			app, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := mapUIDs(ctx, t, admin, ns); len(got) != len(app.MapNames())+len(other.MapNames()) {
				t.Fatalf("maps changed while the driver ran: %v", sortedKeys(got))
			}
			if err := sparkfixture.WaitForPodPhase(ctx, admin, ns, app.DriverPod, corev1.PodSucceeded); err != nil {
				t.Fatal(err)
			}
			pod, err := admin.CoreV1().Pods(ns).Get(ctx, app.DriverPod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			log := containerLog(t, c, pod, "sparkcm-hook")
			t.Logf("%s\nsidecar log:\n%s", describe(pod), log)
			if st := terminated(pod, "sparkcm-hook"); st == nil || st.ExitCode != 0 {
				t.Fatalf("sidecar ended %+v, want exit 0", st)
			}
			left := mapUIDs(ctx, t, admin, ns)
			for _, name := range app.MapNames() {
				if _, ok := left[name]; ok {
					t.Errorf("map %s of the finished driver is still there", name)
				}
				if !strings.Contains(log, name) {
					t.Errorf("sidecar result does not mention %s", name)
				}
			}
			for _, name := range other.MapNames() {
				if _, ok := left[name]; !ok {
					t.Errorf("map %s of the other, running application was deleted", name)
				}
			}
		})
	}
}

func TestWatchSidecarOnSIGTERMFromPodDeletionBeforeTheDriverEndsDeletesNothing(t *testing.T) {
	c := node(t)
	ctx := ctxFor(t, 5*time.Minute)
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	grantDocumentedRole(ctx, t, admin, ns, "default")
	// The driver runs until it is stopped and, like a JVM running its
	// shutdown hooks, takes a few seconds to end after SIGTERM: the sidecar's
	// SIGTERM provably comes before the driver ended.
	app, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{
		NodeImage: kubecluster.StubImage, State: sparkfixture.StateRunning, DriverShutdown: 5 * time.Second,
		DriverSidecars: []corev1.Container{sidecar()},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := mapUIDs(ctx, t, admin, ns)
	pod, err := admin.CoreV1().Pods(ns).Get(ctx, app.DriverPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Give the sidecar time to start watching, as it would have in a real run.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(readLogOrEmpty(c, pod, "sparkcm-hook"), "watching the driver") {
		if time.Now().After(deadline) {
			t.Fatalf("sidecar never started watching; log:\n%s", readLogOrEmpty(c, pod, "sparkcm-hook"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	w, err := admin.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + app.DriverPod, ResourceVersion: pod.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := admin.CoreV1().Pods(ns).Delete(ctx, app.DriverPod, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(20))}); err != nil {
		t.Fatal(err)
	}
	// The kubelet reports each container's end before the Pod goes away.
	var sidecarEnd *corev1.ContainerStateTerminated
	var last *corev1.Pod
	var sidecarLog string
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok {
			continue
		}
		last = p
		if st := terminated(p, "sparkcm-hook"); st != nil && sidecarEnd == nil {
			sidecarEnd = st
			sidecarLog = readLogOrEmpty(c, p, "sparkcm-hook")
		}
		if ev.Type == watch.Deleted {
			break
		}
	}
	if last != nil {
		t.Logf("%s\nsidecar log:\n%s", describe(last), sidecarLog)
	}
	if sidecarEnd == nil {
		t.Fatal("the sidecar's end was never reported")
	}
	if sidecarEnd.ExitCode != 4 {
		t.Errorf("sidecar exit code %d, want 4 (still running, nothing deleted)", sidecarEnd.ExitCode)
	}
	after := mapUIDs(ctx, t, admin, ns)
	for _, name := range app.MapNames() {
		if after[name] != before[name] {
			t.Errorf("map %s deleted or replaced after a SIGTERM that came before the driver ended", name)
		}
	}
}

func readLogOrEmpty(c *kubecluster.ControlPlane, pod *corev1.Pod, container string) string {
	out, _ := c.ContainerLog(pod.Namespace, pod.Name, pod.UID, container)
	return out
}
