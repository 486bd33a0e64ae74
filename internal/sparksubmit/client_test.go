package sparksubmit_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// clientOwned is the client-mode application whose driver names an existing
// Pod (spark.kubernetes.driver.pod.name), captured while it ran.
type clientOwned struct {
	driver  *corev1.Pod
	execMap corev1.ConfigMap
	execPod corev1.Pod
}

// executorsOf waits until the application has exactly one executor map and
// pods executor Pods, and returns them.
func executorsOf(ctx context.Context, t *testing.T, ns, id string, pods int) (corev1.ConfigMap, []corev1.Pod) {
	t.Helper()
	var cms []corev1.ConfigMap
	var ps []corev1.Pod
	eventually(ctx, t, "the executor map and the executor Pods", func() bool {
		cms, ps = labelled(ctx, t, ns, id, "executor")
		return len(cms) == 1 && len(ps) == pods
	})
	if !execMapName.MatchString(cms[0].Name) {
		t.Errorf("executor map named %s", cms[0].Name)
	}
	return cms[0], ps
}

// Client mode: the driver is a process on this machine (a notebook, an engine
// outside the cluster), so no driver Pod owns the executor map. It must be
// kept while the application runs - also while it has no executor Pod at all -
// and go once the application has ended: Spark removes it on a clean stop; a
// killed driver leaks it for sparkcm-hook.
func clientMode(t *testing.T, in sparksubmit.Install, seen *observed) {
	ctx := ctxFor(t, 10*time.Minute)
	ns := newNamespace(t)
	d, err := in.StartDriver(ctx, ns.target, ns.name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)

	// Each application is started outside the subtests that check it, so a
	// failed check never stops the ones after it.
	static, err := d.Start(ctx, map[string]string{
		"spark.app.name":           "static-executors",
		"spark.executor.instances": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := executorsOf(ctx, t, ns.name, static, 1)
	seen.ownerless = cm
	ageBeyond(time.Second)

	t.Run("static executors: the executor map has no owner", func(t *testing.T) {
		if len(cm.OwnerReferences) != 0 {
			t.Errorf("client-mode executor map %s has owners %v", cm.Name, cm.OwnerReferences)
		}
	})
	t.Run("static executors: sweep keeps the running application's executor map", func(t *testing.T) {
		before := take(ctx, t, ns.name)
		if r := runHook(ctx, t, ns.kubeconfig, "sweep", "-n", ns.name, "--older-than", "1s"); r.code != 0 || len(r.res.Deleted) != 0 {
			t.Errorf("want exit 0 and nothing deleted\n%s", r)
		}
		assertGone(t, before, take(ctx, t, ns.name), nil)
		// It saw the executor run: the map now says so, and a later sweep
		// counts the session's quiet time from then.
		got, err := cp.Clientset().CoreV1().ConfigMaps(ns.name).Get(ctx, cm.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Annotations[rule.AnnotationLastActive] == "" {
			t.Errorf("sweep saw executor Pods of %s run and did not stamp %s on %s: %v", static, rule.AnnotationLastActive, cm.Name, got.Annotations)
		}
	})
	t.Run("static executors: cleanup --app-id exits 4 while an executor Pod is not terminated", func(t *testing.T) {
		before := take(ctx, t, ns.name)
		if r := runHook(ctx, t, ns.kubeconfig, "cleanup", "--app-id", static); r.code != 4 || len(r.res.Deleted) != 0 {
			t.Errorf("want exit 4 and nothing deleted\n%s", r)
		}
		assertGone(t, before, take(ctx, t, ns.name), nil)
	})
	t.Run("static executors: a clean stop removes the executor map and Pods itself, leaving sparkcm-hook nothing", func(t *testing.T) {
		if err := d.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(ctx, t, "Spark to delete its executor map and Pods", func() bool {
			cms, pods := labelled(ctx, t, ns.name, static, "")
			return len(cms) == 0 && len(pods) == 0
		})
		t.Logf("Spark %s, client mode, SparkContext.stop(): Spark deleted its executor map and executor Pod itself", in.Version)
		before := take(ctx, t, ns.name)
		if r := runHook(ctx, t, ns.kubeconfig, "cleanup", "--app-id", static); r.code != 0 || len(r.res.Deleted) != 0 {
			t.Errorf("cleanup --app-id after a clean stop: want exit 0 and nothing deleted\n%s", r)
		}
		assertGone(t, before, take(ctx, t, ns.name), nil)
	})

	dynamic, err := d.Start(ctx, map[string]string{
		"spark.app.name":                                  "dynamic-allocation",
		"spark.dynamicAllocation.enabled":                 "true",
		"spark.dynamicAllocation.shuffleTracking.enabled": "true",
		"spark.dynamicAllocation.minExecutors":            "0",
		"spark.dynamicAllocation.initialExecutors":        "0",
		"spark.dynamicAllocation.maxExecutors":            "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	dynMap, _ := executorsOf(ctx, t, ns.name, dynamic, 0)
	ageBeyond(time.Second)

	t.Run("dynamic allocation, zero executors: sweep keeps the idle application's ownerless executor map", func(t *testing.T) {
		if _, pods := labelled(ctx, t, ns.name, dynamic, ""); len(pods) != 0 {
			t.Fatalf("an idle application with minExecutors=0 has Pods: %d", len(pods))
		}
		before := take(ctx, t, ns.name)
		if r := runHook(ctx, t, ns.kubeconfig, "sweep", "-n", ns.name, "--older-than", "1s"); r.code != 0 || len(r.res.Deleted) != 0 {
			t.Errorf("want exit 0 and nothing deleted\n%s", r)
		}
		assertGone(t, before, take(ctx, t, ns.name), nil)
	})
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Run("dynamic allocation: a killed driver leaks its executor map", func(t *testing.T) {
		cms, pods := labelled(ctx, t, ns.name, dynamic, "")
		if len(cms) != 1 || cms[0].UID != dynMap.UID || len(pods) != 0 {
			t.Fatalf("after kill -9: maps %v, %d Pods; want the executor map %s left behind", names(cms), len(pods), dynMap.Name)
		}
		t.Logf("Spark %s, client mode, driver JVM killed: the executor map %s is left behind", in.Version, dynMap.Name)
	})
	ageBeyond(time.Second)
	// Nothing in the cluster tells a dead driver from an idle one: only the
	// longer orphan bound lets sweep act.
	t.Run("dynamic allocation, killed: sweep keeps the leaked map within --orphan-older-than", func(t *testing.T) {
		before := take(ctx, t, ns.name)
		if _, ok := before["ConfigMap/"+dynMap.Name]; !ok {
			t.Fatalf("the leaked map %s is not there to keep", dynMap.Name)
		}
		if r := runHook(ctx, t, ns.kubeconfig, "sweep", "-n", ns.name, "--older-than", "1s"); r.code != 0 || len(r.res.Deleted) != 0 {
			t.Errorf("sweep with the default --orphan-older-than: want exit 0 and nothing deleted\n%s", r)
		}
		assertGone(t, before, take(ctx, t, ns.name), nil)
	})
	t.Run("dynamic allocation, killed: sweep removes exactly the leaked map past --orphan-older-than", func(t *testing.T) {
		before := take(ctx, t, ns.name)
		r := runHook(ctx, t, ns.kubeconfig, "sweep", "-n", ns.name, "--older-than", "1s", "--orphan-older-than", "1s")
		if r.code != 0 {
			t.Fatal(r)
		}
		assertGone(t, before, take(ctx, t, ns.name), []string{dynMap.Name})
	})

	t.Run("driver Pod named: the executor map is owned by that Pod and cleaned with it after a kill", func(t *testing.T) {
		seen.owned = ownedByDriverPod(ctx, t, in, ns)
	})
}

// ownedByDriverPod runs a client-mode driver that names an existing Pod as its
// own (spark.kubernetes.driver.pod.name), as a driver inside a Pod does. The
// test makes that Pod, labelled as Spark labels a driver.
func ownedByDriverPod(ctx context.Context, t *testing.T, in sparksubmit.Install, ns namespace) *clientOwned {
	kube := cp.Clientset()
	appID := sparkfixture.NewAppID()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "notebook-driver", Labels: map[string]string{
			"spark-app-selector": appID, "spark-role": "driver", "spark-app-name": "owned-executors",
		}},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "spark-kubernetes-driver", Image: "spark:" + in.Version}},
		},
	}
	pod, err := kube.CoreV1().Pods(ns.name).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sparkfixture.SetPodPhase(ctx, kube, ns.name, pod.Name, corev1.PodRunning); err != nil {
		t.Fatal(err)
	}
	d, err := in.StartDriver(ctx, ns.target, ns.name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id, err := d.Start(ctx, map[string]string{
		"spark.app.name":                   "owned-executors",
		"spark.app.id":                     appID,
		"spark.kubernetes.driver.pod.name": pod.Name,
		"spark.executor.instances":         "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if id != appID {
		t.Fatalf("application id %s, want spark.app.id %s", id, appID)
	}
	cm, pods := executorsOf(ctx, t, ns.name, id, 1)
	owned := &clientOwned{driver: pod, execMap: cm, execPod: pods[0]}
	for _, o := range []metav1.Object{&cm, &pods[0]} {
		refs := o.GetOwnerReferences()
		if len(refs) != 1 || refs[0].Kind != "Pod" || refs[0].UID != pod.UID {
			t.Errorf("%s: owners %v, want the driver Pod %s", o.GetName(), refs, pod.Name)
		}
	}
	if r := runHook(ctx, t, ns.kubeconfig, "cleanup", "--driver-pod", pod.Name); r.code != 4 || len(r.res.Deleted) != 0 {
		t.Errorf("cleanup --driver-pod while the driver runs: want exit 4 and nothing deleted\n%s", r)
	}
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	if cms, _ := labelled(ctx, t, ns.name, id, "executor"); len(cms) != 1 {
		t.Fatalf("after kill -9: executor maps %v, want the one left behind", names(cms))
	}
	t.Logf("Spark %s, driver Pod named, driver JVM killed: the executor map %s and executor Pod %s are left behind", in.Version, cm.Name, pods[0].Name)
	// The kubelet would now report the driver container dead and the
	// executor, cut off from its driver, exited.
	for _, p := range []string{pods[0].Name, pod.Name} {
		if err := sparkfixture.SetPodPhase(ctx, kube, ns.name, p, corev1.PodFailed); err != nil {
			t.Fatal(err)
		}
	}
	before := take(ctx, t, ns.name)
	r := runHook(ctx, t, ns.kubeconfig, "cleanup", "--driver-pod", pod.Name)
	if r.code != 0 {
		t.Fatal(r)
	}
	assertGone(t, before, take(ctx, t, ns.name), []string{cm.Name})
	return owned
}
