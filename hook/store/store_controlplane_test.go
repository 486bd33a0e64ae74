package store_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store/storetest"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// seeder writes through client-go's clientset, as the cluster's other
// clients do, and compacts the test bed's etcd.
type seeder struct {
	cp   *kubecluster.ControlPlane
	kube kubernetes.Interface
	dyn  dynamic.Interface
}

func (s seeder) CreateNamespace(ctx context.Context, name string) error {
	return s.cp.CreateNamespace(ctx, name)
}

func (s seeder) CreateMap(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	return s.kube.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{})
}

func (s seeder) UpdateMap(ctx context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	return s.kube.CoreV1().ConfigMaps(cm.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
}

func (s seeder) CreatePod(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	return s.kube.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
}

func (s seeder) UpdatePodStatus(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	return s.kube.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
}

func (s seeder) DeletePod(ctx context.Context, ns, name string) error {
	// At once: there is no kubelet to confirm a graceful end.
	return s.kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
}

func (s seeder) CreateApp(ctx context.Context, app *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return s.dyn.Resource(store.SparkApplicationGVR).Namespace(app.GetNamespace()).Create(ctx, app, metav1.CreateOptions{})
}

func (s seeder) Compact(ctx context.Context) error { return s.cp.CompactEtcd(ctx) }

func TestRealAPIServerKeepsTheContract(t *testing.T) {
	// Without the watch cache the API server reads etcd itself: continue
	// tokens and watches from a compacted revision answer 410, which the
	// memory store's Compact stands for.
	// Its own control plane, started while other packages' tests may load
	// the machine: readiness gets more than the default minute.
	cp := kubecluster.ForTest(t, kubecluster.Options{APIServerFlags: []string{"--watch-cache=false"}, ReadyTimeout: 5 * time.Minute})
	cfg := rest.CopyConfig(cp.AdminConfig())
	cfg.QPS, cfg.Burst = 1000, 2000
	k, err := kube.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := store.New(k, md, dyn)
	seed := seeder{cp: cp, kube: cp.Clientset(), dyn: cp.Dynamic()}
	storetest.RunContract(t, func(*testing.T) (store.Store, storetest.Seeder) { return s, seed })
}
