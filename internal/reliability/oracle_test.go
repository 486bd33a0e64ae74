package reliability

import (
	"context"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// The oracle: which maps a run may delete, written from docs/deletion.md's "What
// gets deleted" and nothing else. It never calls the hook package: where
// the two disagree, one of them is wrong, and the test says so.

var (
	sparkApps     = schema.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"}
	execName      = regexp.MustCompile(`^spark-exec-[0-9a-f]+-conf-map$`)
	driverName    = regexp.MustCompile(`^spark-drv-[0-9a-f]+-conf-map$`)
	driverSuffixs = []string{"-driver-podspec-conf-map", "-driver-conf-map", "-hadoop-config", "-krb5-file"}
)

// world is a namespace as read before a run.
type world struct {
	maps       []corev1.ConfigMap
	pods       map[types.UID]*corev1.Pod
	podsByName map[string]*corev1.Pod
	apps       map[types.UID]*unstructured.Unstructured
	appsByName map[string]*unstructured.Unstructured
}

func readWorld(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, ns string) (*world, error) {
	w := &world{pods: map[types.UID]*corev1.Pod{}, podsByName: map[string]*corev1.Pod{}, apps: map[types.UID]*unstructured.Unstructured{}, appsByName: map[string]*unstructured.Unstructured{}}
	maps, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, m := range maps.Items {
		if m.Name != "kube-root-ca.crt" {
			w.maps = append(w.maps, m)
		}
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		w.pods[p.UID], w.podsByName[p.Name] = p, p
	}
	apps, err := dyn.Resource(sparkApps).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range apps.Items {
		a := &apps.Items[i]
		w.apps[a.GetUID()], w.appsByName[a.GetName()] = a, a
	}
	return w, nil
}

// A Pod has stopped using maps only once it Succeeded or Failed.
func stopped(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func state(a *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(a.Object, "status", "applicationState", "state")
	return s
}

func appID(a *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(a.Object, "status", "sparkApplicationId")
	return s
}

// finished: COMPLETED, FAILED, and SUBMISSION_FAILED once the Kubeflow
// operator will not submit it again (restartPolicy Never or unset, or
// OnFailure with status.submissionAttempts past
// onSubmissionFailureRetries).
func finished(a *unstructured.Unstructured) bool {
	switch state(a) {
	case "COMPLETED", "FAILED":
		return true
	case "SUBMISSION_FAILED":
		policy, _, _ := unstructured.NestedString(a.Object, "spec", "restartPolicy", "type")
		switch policy {
		case "", "Never":
			return true
		case "OnFailure":
			retries, set, _ := unstructured.NestedInt64(a.Object, "spec", "restartPolicy", "onSubmissionFailureRetries")
			attempts, _, _ := unstructured.NestedInt64(a.Object, "status", "submissionAttempts")
			return !set || attempts > retries
		}
	}
	return false
}

// userSupplied: named in any SparkApplication's spec.sparkConfigMap,
// spec.hadoopConfigMap or spec.driver/executor.configMaps.
func (w *world) userSupplied(name string) bool {
	for _, a := range w.apps {
		for _, f := range [][]string{{"spec", "sparkConfigMap"}, {"spec", "hadoopConfigMap"}} {
			if v, _, _ := unstructured.NestedString(a.Object, f...); v == name {
				return true
			}
		}
		for _, role := range []string{"driver", "executor"} {
			list, _, _ := unstructured.NestedSlice(a.Object, "spec", role, "configMaps")
			for _, it := range list {
				if m, ok := it.(map[string]any); ok && m["name"] == name {
					return true
				}
			}
		}
	}
	return false
}

// usedByLivePod: a Pod that is not Succeeded/Failed refers to it through a
// volume, a projected volume, env valueFrom or envFrom, in any container.
// The sidecar's own driver, whose driver container ended, counts as
// finished.
func (w *world) usedByLivePod(name string, sidecar types.UID) bool {
	for _, p := range w.pods {
		if stopped(p) || p.UID == sidecar {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.ConfigMap != nil && v.ConfigMap.Name == name {
				return true
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.ConfigMap != nil && s.ConfigMap.Name == name {
						return true
					}
				}
			}
		}
		var env []corev1.EnvVar
		var envFrom []corev1.EnvFromSource
		for _, c := range append(append([]corev1.Container{}, p.Spec.Containers...), p.Spec.InitContainers...) {
			env, envFrom = append(env, c.Env...), append(envFrom, c.EnvFrom...)
		}
		for _, c := range p.Spec.EphemeralContainers {
			env, envFrom = append(env, c.Env...), append(envFrom, c.EnvFrom...)
		}
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name {
				return true
			}
		}
		for _, e := range envFrom {
			if e.ConfigMapRef != nil && e.ConfigMapRef.Name == name {
				return true
			}
		}
	}
	return false
}

// owner is the application a map is Spark's map of, by docs/deletion.md's
// evidence, or nil.
type owner struct {
	ids        map[string]bool
	driver     *corev1.Pod                // nil: gone, or none (client mode)
	driverUID  types.UID                  // the owning driver's UID, also when gone
	driverName string                     // the owning driver's name, also when gone
	app        *unstructured.Unstructured // the SparkApplication, when it exists
	appUID     types.UID
	ownerless  bool
}

// evidence applies "a map is deleted only with positive evidence that Spark
// or the Spark Operator generated it for the application", and the
// exclusions that need no liveness: keep annotation, user-supplied, another
// owner, labelled for another application.
func (w *world) evidence(m *corev1.ConfigMap) *owner {
	if m.Annotations["sparkcm-hook/keep"] == "true" || w.userSupplied(m.Name) {
		return nil
	}
	label, labelled := m.Labels["spark-app-selector"]
	if len(m.OwnerReferences) == 0 {
		if execName.MatchString(m.Name) && label != "" && m.Labels["spark-role"] == "executor" {
			o := &owner{ids: map[string]bool{label: true}, ownerless: true}
			for _, a := range w.apps {
				if appID(a) == label {
					o.app = a // the SparkApplication that reported this id
				}
			}
			return o
		}
		return nil
	}
	o := &owner{ids: map[string]bool{}}
	byDriver, byApp := false, false
	for _, ref := range m.OwnerReferences {
		switch {
		case ref.Kind == "Pod" && ref.APIVersion == "v1":
			p := w.pods[ref.UID]
			if p != nil && p.Labels["spark-role"] != "driver" {
				return nil // owned by some other Pod
			}
			byDriver, o.driver, o.driverUID, o.driverName = true, p, ref.UID, ref.Name
			if p != nil {
				o.ids[p.Labels["spark-app-selector"]] = true
				for _, pr := range p.OwnerReferences {
					if pr.Kind == "SparkApplication" {
						o.appUID, o.app = pr.UID, w.apps[pr.UID]
					}
				}
			} else if label != "" {
				o.ids[label] = true // the driver is gone: its map's own label names the application
			}
		case ref.Kind == "SparkApplication" && strings.HasPrefix(ref.APIVersion, "sparkoperator.k8s.io/"):
			byApp, o.appUID, o.app = true, ref.UID, w.apps[ref.UID]
		default:
			return nil
		}
	}
	if o.app != nil && appID(o.app) != "" {
		o.ids[appID(o.app)] = true
	}
	if o.app == nil && o.driver == nil && label != "" {
		// Everything is gone: a SparkApplication that reported this id
		// speaks for the application.
		for _, a := range w.apps {
			if appID(a) == label {
				o.app = a
			}
		}
	}
	if labelled && !o.ids[label] {
		return nil
	}
	prom := strings.HasSuffix(m.Name, "-prom-conf") && len(m.Name) > len("-prom-conf")
	generated := driverName.MatchString(m.Name) || execName.MatchString(m.Name)
	for _, s := range driverSuffixs {
		generated = generated || (strings.HasSuffix(m.Name, s) && len(m.Name) > len(s))
	}
	if (byDriver && generated && !prom) || (byApp && prom) {
		return o
	}
	return nil
}

// live: the driver Pod has not stopped (unless sidecar mode says its
// container ended), the SparkApplication is not finished (ignored in
// sidecar mode once the driver container ended), or any Pod labelled with
// the application's id has not stopped.
func (w *world) live(o *owner, sidecarDriver types.UID) bool {
	if o.driver != nil && !stopped(o.driver) && o.driver.UID != sidecarDriver {
		return true
	}
	if o.app != nil && !finished(o.app) && (sidecarDriver == "" || o.driver == nil) {
		return true
	}
	for _, p := range w.pods {
		if !stopped(p) && o.ids[p.Labels["spark-app-selector"]] && p.UID != sidecarDriver {
			return true
		}
	}
	return false
}

// sweepMay is what `sweep --older-than 0s` may delete; orphansToo when
// --orphan-older-than is shorter than everything's age.
func (w *world) sweepMay(orphansToo bool) map[string]bool {
	out := map[string]bool{}
	for i := range w.maps {
		m := &w.maps[i]
		o := w.evidence(m)
		if o == nil || w.live(o, "") || w.usedByLivePod(m.Name, "") || (o.ownerless && !orphansToo) {
			continue
		}
		out[m.Name] = true
	}
	return out
}

// cleanupMay is what cleanup (or watch) of one application may delete,
// and whether it must refuse (exit 4, nothing deleted) because the
// application is live. Which maps Spark made for the application is the
// scenario's own record; whether each may go is docs/deletion.md's rule.
// sidecar is the driver Pod whose driver container ended (watch), or "".
func (w *world) cleanupMay(a *madeApp, sidecar types.UID) (map[string]bool, bool) {
	o := &owner{ids: map[string]bool{a.id: true}, driver: w.podsByName[a.driverPod], app: w.appsByName[a.name]}
	if a.name == "" {
		o.app = nil
	}
	if o.driver != nil && o.driver.Labels["spark-app-selector"] != a.id {
		o.driver = nil // another application's Pod under that name
	}
	if w.live(o, sidecar) {
		return map[string]bool{}, true
	}
	out := map[string]bool{}
	for i := range w.maps {
		m := &w.maps[i]
		if !a.maps[m.Name] || w.usedByLivePod(m.Name, sidecar) {
			continue
		}
		if e := w.evidence(m); e != nil && (e.ids[a.id] || (e.driver == nil && e.driverName == a.driverPod)) {
			out[m.Name] = true
		}
	}
	return out, false
}
