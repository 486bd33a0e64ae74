package rule

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodConfigMapRefs lists every ConfigMap a Pod refers to, through every kind
// of reference the API has: volumes (direct and projected), env valueFrom and
// envFrom, in containers, init containers and ephemeral containers. A name
// appears once.
func PodConfigMapRefs(pod *corev1.Pod) []string {
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" {
			seen[name] = true
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			add(v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(s.ConfigMap.Name)
				}
			}
		}
	}
	envRefs := func(env []corev1.EnvVar, envFrom []corev1.EnvFromSource) {
		for _, e := range env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				add(e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
		for _, e := range envFrom {
			if e.ConfigMapRef != nil {
				add(e.ConfigMapRef.Name)
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		envRefs(pod.Spec.InitContainers[i].Env, pod.Spec.InitContainers[i].EnvFrom)
	}
	for i := range pod.Spec.Containers {
		envRefs(pod.Spec.Containers[i].Env, pod.Spec.Containers[i].EnvFrom)
	}
	for i := range pod.Spec.EphemeralContainers {
		envRefs(pod.Spec.EphemeralContainers[i].Env, pod.Spec.EphemeralContainers[i].EnvFrom)
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PodTerminated reports a Pod that has stopped: only Succeeded and Failed Pods have stopped using their
// ConfigMaps. Pending, Running and Unknown Pods (also while being deleted)
// still may.
func PodTerminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// ContainerTerminated reports whether the named container has terminated,
// which is how a sidecar knows the driver is done while its own Pod still
// runs.
func ContainerTerminated(pod *corev1.Pod, container string) bool {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == container {
			return s.State.Terminated != nil
		}
	}
	return false
}

// ContainerFinishedAt is when a Pod's container terminated, if it has.
func ContainerFinishedAt(pod *corev1.Pod, container string) (time.Time, bool) {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == container && s.State.Terminated != nil {
			return s.State.Terminated.FinishedAt.Time, true
		}
	}
	return time.Time{}, false
}

// PodRef names a Pod that uses a map, for the skip reason.
type PodRef struct {
	Name  string
	Phase corev1.PodPhase
}

// RefIndex maps namespace/ConfigMap name to the non-terminated Pods using it.
type RefIndex map[string][]PodRef

// Add indexes one Pod unless it is terminated or exempt (a finished Pod of
// the application being cleaned, such as a driver whose container ended
// while a sidecar keeps the Pod running).
func (ix RefIndex) Add(pod *corev1.Pod, exempt func(*corev1.Pod) bool) {
	if PodTerminated(pod) || (exempt != nil && exempt(pod)) {
		return
	}
	for _, name := range PodConfigMapRefs(pod) {
		k := NsKey(pod.Namespace, name)
		ix[k] = append(ix[k], PodRef{Name: pod.Name, Phase: pod.Status.Phase})
	}
}

// UsedBy returns the Pods that keep a map in use.
func (ix RefIndex) UsedBy(ns, name string) []PodRef { return ix[NsKey(ns, name)] }
