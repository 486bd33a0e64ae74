package memstore_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store/memstore"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store/storetest"
)

// seeder writes into a memstore as the cluster's other clients would.
type seeder struct{ s *memstore.Store }

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

func typed[T any](u *unstructured.Unstructured, err error, out *T) (*T, error) {
	if err != nil {
		return nil, err
	}
	return out, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}

func (m seeder) CreateNamespace(_ context.Context, name string) error {
	_, err := m.s.Create(store.NamespacesGVR, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return err
}

func (m seeder) CreateMap(_ context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	u, err := m.s.Create(store.ConfigMapsGVR, cm)
	return typed(u, err, &corev1.ConfigMap{})
}

func (m seeder) UpdateMap(_ context.Context, cm *corev1.ConfigMap) (*corev1.ConfigMap, error) {
	u, err := m.s.Update(store.ConfigMapsGVR, cm)
	return typed(u, err, &corev1.ConfigMap{})
}

func (m seeder) CreatePod(_ context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	u, err := m.s.Create(podsGVR, pod)
	return typed(u, err, &corev1.Pod{})
}

func (m seeder) UpdatePodStatus(_ context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	u, err := m.s.Update(podsGVR, pod)
	return typed(u, err, &corev1.Pod{})
}

func (m seeder) DeletePod(_ context.Context, ns, name string) error {
	return m.s.Delete(podsGVR, ns, name, nil)
}

func (m seeder) CreateApp(_ context.Context, app *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return m.s.Create(store.SparkApplicationGVR, app)
}

func (m seeder) Compact(context.Context) error {
	m.s.Compact()
	return nil
}

func TestMemStoreKeepsTheAPIServersContract(t *testing.T) {
	storetest.RunContract(t, func(*testing.T) (store.Store, storetest.Seeder) {
		s := memstore.New()
		return s, seeder{s}
	})
}
