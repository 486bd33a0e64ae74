// Package kube is the part of Kubernetes' typed API that sparkcm-hook
// uses, and a client for it over rest.RESTClient.
//
// client-go's clientset (k8s.io/client-go/kubernetes) links every API
// group: each typed client imports k8s.io/client-go/kubernetes/scheme, whose
// init registers the types of all of them, and the reflection that
// text/template (urfave/cli's help) uses keeps every exported method of
// every type the binary holds. It made up more than half of the binary. The
// interfaces here name only what the tool calls, with client-go's own method
// signatures, so that a test can hand in client-go's typed clients or fake
// clientset through a thin adapter (internal/kubetest), and New builds them
// from a scheme that holds only these groups.
package kube

import (
	"context"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Interface is what the tool asks of the API server beside the metadata and
// dynamic clients.
type Interface interface {
	CoreV1() CoreV1Interface
	RbacV1() RbacV1Interface
	AuthorizationV1() AuthorizationV1Interface
	AuthenticationV1() AuthenticationV1Interface
	CoordinationV1() CoordinationV1Interface
	Discovery() DiscoveryInterface
}

// CoordinationV1Interface holds the Lease the controller's replicas elect
// their leader with.
type CoordinationV1Interface interface {
	Leases(namespace string) LeaseInterface
}

// LeaseInterface reads, creates and updates Leases.
type LeaseInterface interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// CoreV1Interface is the part of core/v1 the tool reads and writes.
type CoreV1Interface interface {
	Pods(namespace string) PodInterface
	Events(namespace string) EventInterface
	Namespaces() NamespaceInterface
	ServiceAccounts(namespace string) ServiceAccountInterface
}

// PodInterface reads and watches Pods.
type PodInterface interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Pod, error)
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// EventInterface records Events.
type EventInterface interface {
	Create(ctx context.Context, event *corev1.Event, opts metav1.CreateOptions) (*corev1.Event, error)
}

// NamespaceInterface reads a Namespace.
type NamespaceInterface interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Namespace, error)
}

// ServiceAccountInterface lists ServiceAccounts.
type ServiceAccountInterface interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.ServiceAccountList, error)
}

// RbacV1Interface lists roles and their bindings.
type RbacV1Interface interface {
	Roles(namespace string) RoleInterface
	RoleBindings(namespace string) RoleBindingInterface
	ClusterRoles() ClusterRoleInterface
	ClusterRoleBindings() ClusterRoleBindingInterface
}

// RoleInterface lists Roles.
type RoleInterface interface {
	List(ctx context.Context, opts metav1.ListOptions) (*rbacv1.RoleList, error)
}

// RoleBindingInterface lists RoleBindings.
type RoleBindingInterface interface {
	List(ctx context.Context, opts metav1.ListOptions) (*rbacv1.RoleBindingList, error)
}

// ClusterRoleInterface lists ClusterRoles.
type ClusterRoleInterface interface {
	List(ctx context.Context, opts metav1.ListOptions) (*rbacv1.ClusterRoleList, error)
}

// ClusterRoleBindingInterface lists ClusterRoleBindings.
type ClusterRoleBindingInterface interface {
	List(ctx context.Context, opts metav1.ListOptions) (*rbacv1.ClusterRoleBindingList, error)
}

// AuthorizationV1Interface asks the API server's authorizers.
type AuthorizationV1Interface interface {
	SubjectAccessReviews() SubjectAccessReviewInterface
	SelfSubjectAccessReviews() SelfSubjectAccessReviewInterface
}

// SubjectAccessReviewInterface asks whether someone may send a request.
type SubjectAccessReviewInterface interface {
	Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// SelfSubjectAccessReviewInterface asks whether the caller may send a
// request.
type SelfSubjectAccessReviewInterface interface {
	Create(ctx context.Context, review *authorizationv1.SelfSubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SelfSubjectAccessReview, error)
}

// AuthenticationV1Interface asks who the caller is.
type AuthenticationV1Interface interface {
	SelfSubjectReviews() SelfSubjectReviewInterface
}

// SelfSubjectReviewInterface returns the caller's user and groups.
type SelfSubjectReviewInterface interface {
	Create(ctx context.Context, review *authenticationv1.SelfSubjectReview, opts metav1.CreateOptions) (*authenticationv1.SelfSubjectReview, error)
}

// DiscoveryInterface is the API server's discovery documents and a client
// for paths outside the API groups (/readyz).
type DiscoveryInterface interface {
	// RESTClient is nil for fake clients.
	RESTClient() rest.Interface
	// ServerGroups returns every group with the versions it serves.
	ServerGroups() (*metav1.APIGroupList, error)
	// ServerGroupsAndResources returns every group and the resources of
	// each of its versions; with an error, what it could read.
	ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error)
}
