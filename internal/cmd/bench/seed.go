package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// admin is what seeding and checking use: the test bed's admin with no
// client-side rate limit.
type admin struct {
	cp       *kubecluster.ControlPlane
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	metadata metadata.Interface
	workers  int
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// backlog is one issue-4 namespace as seeded: what the rows are checked
// against afterwards.
type backlog struct {
	ns   string
	maps int // leftover maps
	pods int // Pods in the namespace after seeding
	// inUse are the leftover maps a Running Pod mounts.
	inUse []string
	// labelled are the leftover maps labelled spark-app-selector (what
	// `kubectl get cm -l spark-app-selector` finds), sorted by name.
	labelled []string
	// janitorBlind are in-use labelled maps mounted only through a projected
	// volume, which the shell janitor's jq does not look at.
	janitorBlind   []string
	apps, appsGone int
}

// seedBacklog leaves, in a fresh namespace, maps leftover maps (5 per
// finished application, DataBytes each) among pods Pods: a fifth of them
// Running, each mounting one leftover map (every second one through a
// projected volume); the rest finished driver Pods (a quarter Failed). The
// applications beyond those finished drivers are gone: SparkApplication and
// driver Pod deleted without the garbage collector reaching their maps (as in
// kubeflow/spark-operator#1596), so their maps name an owner that no longer
// exists.
func (a *admin) seedBacklog(ctx context.Context, ns string, maps, pods, dataBytes int, logf func(string, ...any)) (*backlog, error) {
	return a.seedBacklogSplit(ctx, ns, maps, pods/5, pods-pods/5, dataBytes, logf)
}

// seedBacklogSplit is seedBacklog with the Running and finished Pods
// counted apart (a namespace of a spread-out backlog has one Pod or none).
func (a *admin) seedBacklogSplit(ctx context.Context, ns string, maps, running, finished, dataBytes int, logf func(string, ...any)) (*backlog, error) {
	if err := a.cp.CreateNamespace(ctx, ns); err != nil {
		return nil, err
	}
	pods := running + finished
	apps := maps / 5
	kept := min(finished, apps)
	keptFailed := kept / 4
	gone := apps - kept
	b := &backlog{ns: ns, maps: maps, pods: pods, apps: apps, appsGone: gone}

	var all []*sparkfixture.App
	bulk := func(n int, state string) ([]*sparkfixture.App, error) {
		got, err := sparkfixture.Bulk(ctx, a.kube, a.dyn, ns, n*5, sparkfixture.BulkOptions{
			Template: sparkfixture.Spec{Name: "etl-daily", State: state, DataBytes: dataBytes},
			Workers:  a.workers,
		})
		if err != nil {
			return nil, fmt.Errorf("seed %s: %w", ns, err)
		}
		all = append(all, got...)
		return got, nil
	}
	if _, err := bulk(kept-keptFailed, sparkfixture.StateCompleted); err != nil {
		return nil, err
	}
	if _, err := bulk(keptFailed, sparkfixture.StateFailed); err != nil {
		return nil, err
	}
	goneApps, err := bulk(gone, sparkfixture.StateCompleted)
	if err != nil {
		return nil, err
	}
	logf("%s: %d applications created (%d maps); deleting %d of them with their driver Pods", ns, apps, maps, gone)
	// No garbage collector runs here, so deleting the SparkApplication and
	// the driver Pod leaves the maps with an ownerReference to a Pod that
	// is gone.
	err = parallel(ctx, len(goneApps), a.workers, func(ctx context.Context, i int) error {
		app := goneApps[i]
		err := a.dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(ns).Delete(ctx, app.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete sparkapplication %s/%s: %w", ns, app.Name, err)
		}
		err = a.kube.CoreV1().Pods(ns).Delete(ctx, app.DriverPod, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete driver pod %s/%s: %w", ns, app.DriverPod, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	var names []string
	for _, app := range all {
		for _, m := range app.Maps {
			names = append(names, m.Name)
			if _, ok := m.Labels[sparkfixture.LabelAppID]; ok {
				b.labelled = append(b.labelled, m.Name)
			}
		}
	}
	if len(names) != maps {
		return nil, fmt.Errorf("seed %s: made %d maps, want %d", ns, len(names), maps)
	}
	sort.Strings(b.labelled)
	labelled := map[string]bool{}
	for _, n := range b.labelled {
		labelled[n] = true
	}
	all, goneApps = nil, nil // drop the maps' data

	// Running Pods, each mounting a different leftover map.
	pick := rand.Perm(len(names))[:min(running, len(names))]
	b.inUse = make([]string, len(pick))
	for i, j := range pick {
		b.inUse[i] = names[j]
		if i%2 == 1 && labelled[names[j]] {
			b.janitorBlind = append(b.janitorBlind, names[j])
		}
	}
	if err := a.createPods(ctx, ns, "consumer", len(b.inUse), corev1.PodRunning, func(i int) (string, bool) { return b.inUse[i], i%2 == 1 }); err != nil {
		return nil, err
	}
	// More finished Pods than finished applications (only with few maps):
	// plain batch Pods that use no leftover map.
	if extra := finished - kept; extra > 0 {
		if err := a.createPods(ctx, ns, "batch", extra, corev1.PodSucceeded, nil); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// createPods creates n Pods <prefix>-<i> and moves them to phase (a quarter
// Failed when phase is Succeeded). mount, when set, names the map Pod i
// mounts and whether through a projected volume.
func (a *admin) createPods(ctx context.Context, ns, prefix string, n int, phase corev1.PodPhase, mount func(int) (string, bool)) error {
	return parallel(ctx, n, a.workers, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("%s-%d", prefix, i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": prefix}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "main", Image: "registry.example.com/" + prefix + ":1.0",
					Args: []string{"--config", "/etc/app"},
				}},
			},
		}
		if mount != nil {
			cm, projected := mount(i)
			vol := corev1.Volume{Name: "config"}
			if projected {
				vol.Projected = &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
					ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: cm}},
				}}}
			} else {
				vol.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}
			}
			pod.Spec.Volumes = []corev1.Volume{vol}
			pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}}
		}
		if _, err := a.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s/%s: %w", ns, name, err)
		}
		p := phase
		if p == corev1.PodSucceeded && i%4 == 3 {
			p = corev1.PodFailed
		}
		return sparkfixture.SetPodPhase(ctx, a.kube, ns, name, p)
	})
}

// cleanupScene is the issue-3 namespace: other maps and Pods, plus finished
// applications whose maps the rows delete.
type cleanupScene struct {
	ns        string
	otherMaps int
	pods      int
	ours      *sparkfixture.App // for sparkcm-hook cleanup
	kubectls  *sparkfixture.App // for kubectl delete -l
	inUse     []string          // other maps a Running Pod mounts
}

// seedCleanupScene makes ns with otherMaps maps that belong to nobody being
// cleaned up (a fifth labelled for other Spark applications, so the label
// selector has to tell them apart), pods Pods (a fifth Running and mounting
// one of those maps, the rest finished), and two finished applications with
// all five generated maps each. otherMaps 0 makes the same applications in an
// otherwise empty namespace.
func (a *admin) seedCleanupScene(ctx context.Context, ns string, otherMaps, pods int) (*cleanupScene, error) {
	if err := a.cp.CreateNamespace(ctx, ns); err != nil {
		return nil, err
	}
	s := &cleanupScene{ns: ns, otherMaps: otherMaps, pods: pods}
	names := make([]string, otherMaps)
	err := parallel(ctx, otherMaps, a.workers, func(ctx context.Context, i int) error {
		cm := &corev1.ConfigMap{Data: map[string]string{"application.properties": strings.Repeat("# setting = value ........................................\n", 16)}}
		if i%5 == 0 {
			cm.Name = "spark-exec-" + fmt.Sprintf("%016x", rand.Uint64()) + "-conf-map"
			cm.Labels = map[string]string{sparkfixture.LabelAppID: sparkfixture.NewAppID(), sparkfixture.LabelRole: sparkfixture.RoleExecutor}
		} else {
			cm.Name = fmt.Sprintf("service-config-%d", i)
		}
		names[i] = cm.Name
		if _, err := a.kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create configmap %s/%s: %w", ns, cm.Name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	running := pods / 5
	s.inUse = names[:min(running, otherMaps)]
	if err := a.createPods(ctx, ns, "consumer", len(s.inUse), corev1.PodRunning, func(i int) (string, bool) { return s.inUse[i], false }); err != nil {
		return nil, err
	}
	if err := a.createPods(ctx, ns, "batch", pods-running, corev1.PodSucceeded, nil); err != nil {
		return nil, err
	}
	spec := func(name string) sparkfixture.Spec {
		return sparkfixture.Spec{Name: name, PodTemplate: true, Hadoop: true, Krb5: true}
	}
	if s.ours, err = sparkfixture.Create(ctx, a.kube, a.dyn, ns, spec("nightly-report-a1b2c3d4")); err != nil {
		return nil, err
	}
	if s.kubectls, err = sparkfixture.Create(ctx, a.kube, a.dyn, ns, spec("nightly-report-e5f6g7h8")); err != nil {
		return nil, err
	}
	return s, nil
}

// existing returns the names of the ConfigMaps now in ns.
func (a *admin) existing(ctx context.Context, ns string) (map[string]bool, error) {
	list, err := a.metadata.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list configmaps in %s: %w", ns, err)
	}
	out := make(map[string]bool, len(list.Items))
	for _, m := range list.Items {
		out[m.Name] = true
	}
	return out, nil
}

// missing counts the names not in have.
func missing(names []string, have map[string]bool) int {
	n := 0
	for _, name := range names {
		if !have[name] {
			n++
		}
	}
	return n
}
