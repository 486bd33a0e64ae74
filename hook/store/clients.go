package store

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// clients is the Store over the real API server: the same three clients
// hook.Clients holds (taken one by one, so that hook can come to import
// this package without a cycle).
type clients struct {
	kube kube.Interface
	md   metadata.Interface
	dyn  dynamic.Interface
}

// New returns the Store over the tool's clients: hook.Clients' Kube,
// Metadata and Dynamic.
func New(k kube.Interface, md metadata.Interface, dyn dynamic.Interface) Store {
	return clients{kube: k, md: md, dyn: dyn}
}

func (c clients) ListMaps(ctx context.Context, ns string, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	return c.md.Resource(ConfigMapsGVR).Namespace(ns).List(ctx, opts)
}

func (c clients) ListMapsFull(ctx context.Context, ns string, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	return c.dyn.Resource(ConfigMapsGVR).Namespace(ns).List(ctx, opts)
}

func (c clients) GetMap(ctx context.Context, ns, name string) (*metav1.PartialObjectMetadata, error) {
	return c.md.Resource(ConfigMapsGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
}

func (c clients) DeleteMap(ctx context.Context, ns, name string, pre metav1.Preconditions) error {
	return c.md.Resource(ConfigMapsGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &pre})
}

func (c clients) SetMapOwners(ctx context.Context, ns, name string, uid types.UID, rv string, owners []metav1.OwnerReference) error {
	// A JSON merge patch carrying the UID and resourceVersion read: the API
	// server refuses it (409) if the map changed since.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "resourceVersion": rv, "ownerReferences": owners}})
	if err != nil {
		return err
	}
	_, err = c.md.Resource(ConfigMapsGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (c clients) AnnotateMap(ctx context.Context, ns, name string, uid types.UID, rv, key, value string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": uid, "resourceVersion": rv, "annotations": map[string]string{key: value}}})
	if err != nil {
		return err
	}
	_, err = c.md.Resource(ConfigMapsGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (c clients) ListNamespaces(ctx context.Context, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error) {
	return c.md.Resource(NamespacesGVR).List(ctx, opts)
}

func (c clients) ListPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	return c.kube.CoreV1().Pods(ns).List(ctx, opts)
}

func (c clients) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return c.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func (c clients) WatchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return c.kube.CoreV1().Pods(ns).Watch(ctx, opts)
}

func (c clients) ListApps(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	return c.dyn.Resource(gvr).Namespace(ns).List(ctx, opts)
}

func (c clients) GetApp(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error) {
	return c.dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
}

func (c clients) WatchApps(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return c.dyn.Resource(gvr).Namespace(ns).Watch(ctx, opts)
}

func (c clients) CreateEvent(ctx context.Context, ns string, ev *corev1.Event) (*corev1.Event, error) {
	return c.kube.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
}

func (c clients) ServerGroups(ctx context.Context) (*metav1.APIGroupList, error) {
	// Discovery's interface takes no context (client-go's signature); the
	// tool's own client honours ctx, so --timeout bounds this request too.
	return kube.Groups(ctx, c.kube.Discovery())
}
