package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// madeApp is one application the scenario made, and the maps Spark (or
// the operator) made for it.
type madeApp struct {
	kind      string // operator, plain, gone, legacy, client
	name      string // the SparkApplication, "" without one
	driverPod string // "" in client mode
	id        string
	state     string
	maps      map[string]bool
	// watchable: its driver runs and nothing else of it does, so a
	// sidecar can wait for the driver container to end.
	watchable bool
}

type scenario struct {
	ns   string
	apps []*madeApp
}

// operatorStates weighs finished states above live ones.
var operatorStates = []string{
	sparkfixture.StateCompleted, sparkfixture.StateCompleted, sparkfixture.StateCompleted, sparkfixture.StateFailed, sparkfixture.StateFailed,
	sparkfixture.StateRunning, sparkfixture.StateRunning, sparkfixture.StateSubmitted, sparkfixture.StatePendingRerun, sparkfixture.StateSubmissionFailed, sparkfixture.StateNew,
}

// build makes a seeded random namespace: applications in every state and
// every shape Spark leaves (operator, plain spark-submit, gone with their
// maps left, Spark 3.1.1, client mode), then marks some maps keep, gives
// some another owner or another application's label, and starts Pods in
// every phase that use maps through every kind of reference.
func build(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface, dyn dynamic.Interface, ns string) (*scenario, error) {
	s := &scenario{ns: ns}
	n := 4 + rng.IntN(4)
	for i := range n {
		var a *madeApp
		var err error
		switch k := rng.IntN(10); {
		case k < 4:
			a, err = operatorApp(ctx, rng, kube, dyn, ns, i)
		case k < 6:
			a, err = plainApp(ctx, rng, kube, dyn, ns)
		case k < 7:
			a, err = goneApp(ctx, rng, kube, dyn, ns, i)
		case k < 8:
			a, err = fixtureApp(ctx, kube, dyn, ns, "legacy", sparkfixture.Spec{State: pick(rng, operatorStates[:6]), LegacyExecutorOwner: true})
		default:
			a, err = clientApp(ctx, rng, kube, ns)
		}
		if err != nil {
			return nil, err
		}
		s.apps = append(s.apps, a)
	}
	return s, s.mutate(ctx, rng, kube)
}

func pick[T any](rng *rand.Rand, from []T) T { return from[rng.IntN(len(from))] }

func fixtureApp(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns, kind string, spec sparkfixture.Spec) (*madeApp, error) {
	app, err := sparkfixture.Create(ctx, kube, dyn, ns, spec)
	if err != nil {
		return nil, err
	}
	a := &madeApp{kind: kind, driverPod: app.DriverPod, id: app.AppID, state: spec.State, maps: map[string]bool{}}
	if !spec.NoSparkApplication {
		a.name = app.Name
	}
	for _, m := range app.MapNames() {
		a.maps[m] = true
	}
	runningExecutors := spec.Executors > 0 && (spec.ExecutorPhase == corev1.PodRunning || (spec.ExecutorPhase == "" && spec.State == sparkfixture.StateRunning))
	a.watchable = spec.State == sparkfixture.StateRunning && !runningExecutors
	return a, nil
}

func operatorApp(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface, dyn dynamic.Interface, ns string, i int) (*madeApp, error) {
	spec := sparkfixture.Spec{State: pick(rng, operatorStates), PodTemplate: rng.IntN(2) == 0, Hadoop: rng.IntN(3) == 0, Krb5: rng.IntN(4) == 0, Executors: rng.IntN(2)}
	if spec.Executors > 0 && rng.IntN(2) == 0 {
		spec.ExecutorPhase = pick(rng, []corev1.PodPhase{corev1.PodSucceeded, corev1.PodFailed, corev1.PodRunning})
	}
	if rng.IntN(4) == 0 {
		spec.UserSparkConfigMap = fmt.Sprintf("team-spark-defaults-%d", i)
	}
	a, err := fixtureApp(ctx, kube, dyn, ns, "operator", spec)
	if err != nil {
		return nil, err
	}
	return a, promConf(ctx, kube, dyn, ns, a)
}

// promConf is what the Spark Operator adds: <app>-prom-conf, owned by the
// SparkApplication.
func promConf(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns string, a *madeApp) error {
	sa, err := dyn.Resource(sparkApps).Namespace(ns).Get(ctx, a.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	name := a.name + "-prom-conf"
	_, err = kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels:          map[string]string{"sparkoperator.k8s.io/created-by-spark-operator": "true"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "sparkoperator.k8s.io/v1beta2", Kind: "SparkApplication", Name: a.name, UID: sa.GetUID(), Controller: ptr.To(true)}}},
		Data: map[string]string{"prometheus.yaml": "rules: []"}}, metav1.CreateOptions{})
	a.maps[name] = true
	return err
}

func plainApp(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface, dyn dynamic.Interface, ns string) (*madeApp, error) {
	return fixtureApp(ctx, kube, dyn, ns, "plain", sparkfixture.Spec{NoSparkApplication: true,
		State: pick(rng, []string{sparkfixture.StateCompleted, sparkfixture.StateFailed, sparkfixture.StateRunning}), PodTemplate: rng.IntN(2) == 0})
}

// goneApp finished and was deleted with its driver Pod; no garbage
// collector ran, so its maps still name the deleted owners.
func goneApp(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface, dyn dynamic.Interface, ns string, i int) (*madeApp, error) {
	a, err := operatorApp(ctx, rng, kube, dyn, ns, i)
	if err != nil {
		return nil, err
	}
	a.kind, a.watchable = "gone", false
	bg := metav1.DeletePropagationBackground
	if err := dyn.Resource(sparkApps).Namespace(ns).Delete(ctx, a.name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		return nil, err
	}
	if err := kube.CoreV1().Pods(ns).Delete(ctx, a.driverPod, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		return nil, err
	}
	a.name = ""
	return a, nil
}

// clientApp is a client-mode application: a driver outside the cluster
// left an ownerless executor map, and has no, a running or a finished
// executor Pod.
func clientApp(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface, ns string) (*madeApp, error) {
	a := &madeApp{kind: "client", id: sparkfixture.NewAppID(), maps: map[string]bool{}}
	name := fmt.Sprintf("spark-exec-%016x-conf-map", rng.Uint64())
	labels := map[string]string{"spark-app-selector": a.id, "spark-role": "executor"}
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Data: map[string]string{"spark.properties": "spark.app.id=" + a.id}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	a.maps[name] = true
	if k := rng.IntN(3); k > 0 {
		phase := corev1.PodRunning
		if k == 2 {
			phase = corev1.PodSucceeded
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("exec-%016x", rng.Uint64()), Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "executor", Image: "spark"}},
				Volumes: []corev1.Volume{{Name: "spark-conf-volume-exec", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}}}}
		if err := startPod(ctx, kube, ns, pod, phase); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func startPod(ctx context.Context, kube kubernetes.Interface, ns string, pod *corev1.Pod, phase corev1.PodPhase) error {
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return err
	}
	if phase == corev1.PodPending {
		return nil
	}
	return sparkfixture.SetPodPhase(ctx, kube, ns, pod.Name, phase)
}

// mutate does to some maps what users and other tools do.
func (s *scenario) mutate(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface) error {
	for ai, a := range s.apps {
		for name := range a.maps {
			var change func(*corev1.ConfigMap)
			switch k := rng.IntN(100); {
			case k < 8:
				change = func(m *corev1.ConfigMap) { m.Annotations = map[string]string{"sparkcm-hook/keep": "true"} }
			case k < 13:
				change = func(m *corev1.ConfigMap) {
					m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "config-keeper", UID: types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012x", rng.Uint64()>>16))})
				}
			case k < 17 && a.kind != "gone" && a.kind != "client":
				change = func(m *corev1.ConfigMap) {
					if m.Labels == nil {
						m.Labels = map[string]string{}
					}
					m.Labels["spark-app-selector"] = "spark-someone-else"
				}
			case k < 30:
				if err := s.consumer(ctx, rng, kube, name, ai); err != nil {
					return err
				}
			}
			if change == nil {
				continue
			}
			m, err := kube.CoreV1().ConfigMaps(s.ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			change(m)
			if _, err := kube.CoreV1().ConfigMaps(s.ns).Update(ctx, m, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// consumer starts a Pod in a random phase that uses map through a random
// kind of reference, in a container or an init container.
func (s *scenario) consumer(ctx context.Context, rng *rand.Rand, kube kubernetes.Interface, name string, i int) error {
	c := corev1.Container{Name: "main", Image: "busybox"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("consumer-%d-%016x", i, rng.Uint64())}}
	ref := corev1.LocalObjectReference{Name: name}
	switch rng.IntN(4) {
	case 0:
		pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: ref}}}}
	case 1:
		pod.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: ref}}}}}}}
	case 2:
		c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: ref, Key: "k"}}}}
	default:
		c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: ref}}}
	}
	if rng.IntN(3) == 0 {
		init := c
		init.Name = "init"
		pod.Spec.InitContainers = []corev1.Container{init}
		c.Env, c.EnvFrom = nil, nil
	}
	pod.Spec.Containers = []corev1.Container{c}
	return startPod(ctx, kube, s.ns, pod, pick(rng, []corev1.PodPhase{corev1.PodRunning, corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed}))
}
