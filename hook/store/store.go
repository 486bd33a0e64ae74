// Package store names every request the orchestration (cleanup, sweep,
// watch, wait) makes of the API server, and nothing else, so that the
// unit tier can answer them from memory (package memstore) with the same
// semantics the rule relies on: UID and resourceVersion preconditions,
// 404 and 409 Status errors, paged lists whose continue tokens expire
// (410), and watches from a resourceVersion. Package storetest holds the
// one contract suite both implementations pass.
//
// Errors are apimachinery's *StatusError (apierrors.IsNotFound,
// IsConflict, IsResourceExpired, ...), exactly what client-go returns, so
// code moved onto a Store keeps recognising them by type.
package store

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// SparkApplicationGVR is the Kubeflow Spark Operator's resource, read
// through the dynamic client so the tool does not depend on the operator's
// Go module and still works where the CRD is not installed; the custom
// resource the contract is checked on. The app methods take the
// resource so that the version discovery picked (or another operator's
// kind) is read the same way.
var SparkApplicationGVR = schema.GroupVersionResource{Group: rule.KubeflowGroup, Version: "v1beta2", Resource: "sparkapplications"}

// ConfigMapsGVR and NamespacesGVR are read as metadata only.
var (
	ConfigMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	NamespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// Store is every API operation the orchestration makes.
type Store interface {
	// ListMaps reads one page of ConfigMaps' metadata: opts.Limit and
	// opts.Continue page it, a continue token older than the compacted
	// revision answers 410 Expired. ns "" lists every namespace.
	ListMaps(ctx context.Context, ns string, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error)
	// ListMapsFull reads one page of whole ConfigMaps, data included
	// (report --sizes), paged as ListMaps.
	ListMapsFull(ctx context.Context, ns string, opts metav1.ListOptions) (*unstructured.UnstructuredList, error)
	// GetMap reads one ConfigMap's metadata; 404 when it is not there.
	GetMap(ctx context.Context, ns, name string) (*metav1.PartialObjectMetadata, error)
	// DeleteMap deletes a ConfigMap only if its UID and (when set)
	// resourceVersion still match pre: otherwise 409 Conflict; 404 when
	// it is gone.
	DeleteMap(ctx context.Context, ns, name string, pre metav1.Preconditions) error
	// SetMapOwners replaces a ConfigMap's ownerReferences only if its UID
	// and resourceVersion are still uid and rv (what adopt judged), and
	// otherwise leaves the map unchanged: another resourceVersion answers
	// 409 Conflict, another UID (the map was recreated) 422 Invalid
	// (metadata.uid is immutable), as the API server answers a merge patch
	// carrying them; 404 when it is gone.
	SetMapOwners(ctx context.Context, ns, name string, uid types.UID, rv string, owners []metav1.OwnerReference) error
	// AnnotateMap sets one annotation of a ConfigMap under the same
	// preconditions and answers as SetMapOwners.
	AnnotateMap(ctx context.Context, ns, name string, uid types.UID, rv, key, value string) error
	// ListNamespaces reads one page of Namespaces' metadata (sweep).
	ListNamespaces(ctx context.Context, opts metav1.ListOptions) (*metav1.PartialObjectMetadataList, error)

	// ListPods, GetPod and WatchPods read Pods with label and field
	// selectors (status.phase, metadata.name).
	ListPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error)
	GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error)
	WatchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error)

	// ListApps, GetApp and WatchApps read a custom resource (the
	// SparkApplication) through the dynamic client.
	ListApps(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) (*unstructured.UnstructuredList, error)
	GetApp(ctx context.Context, gvr schema.GroupVersionResource, ns, name string) (*unstructured.Unstructured, error)
	WatchApps(ctx context.Context, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions) (watch.Interface, error)

	// CreateEvent records what a run did on the object it acted for.
	CreateEvent(ctx context.Context, ns string, ev *corev1.Event) (*corev1.Event, error)
	// ServerGroups is discovery: every group with the versions it serves.
	ServerGroups(ctx context.Context) (*metav1.APIGroupList, error)
}
