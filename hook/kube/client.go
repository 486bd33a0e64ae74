package kube

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// scheme holds only the groups the tool uses, and meta/v1 (Status, the
// option types the parameter codec encodes, the discovery documents).
var (
	scheme         = newScheme()
	codecs         = serializer.NewCodecFactory(scheme)
	parameterCodec = runtime.NewParameterCodec(scheme)
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, rbacv1.AddToScheme, authorizationv1.AddToScheme, authenticationv1.AddToScheme, coordinationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // a static registration: fails for every run or none
		}
	}
	return s
}

// discoveryTimeout bounds each discovery request when the configuration
// sets no timeout, as client-go's discovery client does.
const discoveryTimeout = 32 * time.Second

// Client talks to the groups of Interface, one rest.RESTClient per group
// version, as client-go's clientset does: one HTTP client (so the
// configuration's transport wrappers and user agent apply to every request)
// and one client-side rate limiter for all of them.
type Client struct {
	core, rbac, authorization, authentication, coordination rest.Interface
	discovery                                               *discoveryClient
}

var _ Interface = (*Client)(nil)

// New builds a Client from cfg.
func New(cfg *rest.Config) (*Client, error) {
	c := *cfg
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	httpClient, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, err
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		if c.Burst <= 0 {
			return nil, fmt.Errorf("burst must be positive when QPS is set and RateLimiter is not")
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	group := func(apiPath string, gv schema.GroupVersion) (rest.Interface, error) {
		gc := c
		gc.APIPath, gc.GroupVersion = apiPath, &gv
		// The negotiator client-go's generated clients use (CBOR only
		// behind its feature gate).
		gc.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(scheme, codecs).WithoutConversion()
		return rest.RESTClientForConfigAndClient(&gc, httpClient)
	}
	var out Client
	if out.core, err = group("/api", corev1.SchemeGroupVersion); err != nil {
		return nil, err
	}
	if out.rbac, err = group("/apis", rbacv1.SchemeGroupVersion); err != nil {
		return nil, err
	}
	if out.authorization, err = group("/apis", authorizationv1.SchemeGroupVersion); err != nil {
		return nil, err
	}
	if out.authentication, err = group("/apis", authenticationv1.SchemeGroupVersion); err != nil {
		return nil, err
	}
	if out.coordination, err = group("/apis", coordinationv1.SchemeGroupVersion); err != nil {
		return nil, err
	}
	dc := c
	dc.APIPath, dc.GroupVersion = "", nil
	if dc.Timeout == 0 {
		dc.Timeout = discoveryTimeout
	}
	dc.NegotiatedSerializer = codecs.WithoutConversion()
	rc, err := rest.UnversionedRESTClientForConfigAndClient(&dc, httpClient)
	if err != nil {
		return nil, err
	}
	out.discovery = &discoveryClient{rc: rc}
	return &out, nil
}

// CoreV1 is core/v1.
func (c *Client) CoreV1() CoreV1Interface { return coreV1{c.core} }

// RbacV1 is rbac.authorization.k8s.io/v1.
func (c *Client) RbacV1() RbacV1Interface { return rbacV1{c.rbac} }

// AuthorizationV1 is authorization.k8s.io/v1.
func (c *Client) AuthorizationV1() AuthorizationV1Interface {
	return authorizationV1{c.authorization}
}

// AuthenticationV1 is authentication.k8s.io/v1.
func (c *Client) AuthenticationV1() AuthenticationV1Interface {
	return authenticationV1{c.authentication}
}

// CoordinationV1 is coordination.k8s.io/v1.
func (c *Client) CoordinationV1() CoordinationV1Interface { return coordinationV1{c.coordination} }

// Discovery reads the discovery documents.
func (c *Client) Discovery() DiscoveryInterface { return c.discovery }

type coreV1 struct{ rc rest.Interface }

func (g coreV1) Pods(ns string) PodInterface {
	return resource[*corev1.Pod, *corev1.PodList]{g.rc, "pods", ns, func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} }}
}

func (g coreV1) Events(ns string) EventInterface {
	return resource[*corev1.Event, *corev1.EventList]{g.rc, "events", ns, func() *corev1.Event { return &corev1.Event{} }, nil}
}

func (g coreV1) Namespaces() NamespaceInterface {
	return resource[*corev1.Namespace, *corev1.NamespaceList]{g.rc, "namespaces", "", func() *corev1.Namespace { return &corev1.Namespace{} }, nil}
}

func (g coreV1) ServiceAccounts(ns string) ServiceAccountInterface {
	return resource[*corev1.ServiceAccount, *corev1.ServiceAccountList]{g.rc, "serviceaccounts", ns, nil, func() *corev1.ServiceAccountList { return &corev1.ServiceAccountList{} }}
}

type rbacV1 struct{ rc rest.Interface }

func (g rbacV1) Roles(ns string) RoleInterface {
	return resource[*rbacv1.Role, *rbacv1.RoleList]{g.rc, "roles", ns, nil, func() *rbacv1.RoleList { return &rbacv1.RoleList{} }}
}

func (g rbacV1) RoleBindings(ns string) RoleBindingInterface {
	return resource[*rbacv1.RoleBinding, *rbacv1.RoleBindingList]{g.rc, "rolebindings", ns, nil, func() *rbacv1.RoleBindingList { return &rbacv1.RoleBindingList{} }}
}

func (g rbacV1) ClusterRoles() ClusterRoleInterface {
	return resource[*rbacv1.ClusterRole, *rbacv1.ClusterRoleList]{g.rc, "clusterroles", "", nil, func() *rbacv1.ClusterRoleList { return &rbacv1.ClusterRoleList{} }}
}

func (g rbacV1) ClusterRoleBindings() ClusterRoleBindingInterface {
	return resource[*rbacv1.ClusterRoleBinding, *rbacv1.ClusterRoleBindingList]{g.rc, "clusterrolebindings", "", nil, func() *rbacv1.ClusterRoleBindingList { return &rbacv1.ClusterRoleBindingList{} }}
}

type authorizationV1 struct{ rc rest.Interface }

func (g authorizationV1) SubjectAccessReviews() SubjectAccessReviewInterface {
	return resource[*authorizationv1.SubjectAccessReview, *authorizationv1.SubjectAccessReview]{g.rc, "subjectaccessreviews", "", func() *authorizationv1.SubjectAccessReview { return &authorizationv1.SubjectAccessReview{} }, nil}
}

func (g authorizationV1) SelfSubjectAccessReviews() SelfSubjectAccessReviewInterface {
	return resource[*authorizationv1.SelfSubjectAccessReview, *authorizationv1.SelfSubjectAccessReview]{g.rc, "selfsubjectaccessreviews", "", func() *authorizationv1.SelfSubjectAccessReview { return &authorizationv1.SelfSubjectAccessReview{} }, nil}
}

type coordinationV1 struct{ rc rest.Interface }

func (g coordinationV1) Leases(ns string) LeaseInterface {
	return resource[*coordinationv1.Lease, *coordinationv1.LeaseList]{g.rc, "leases", ns, func() *coordinationv1.Lease { return &coordinationv1.Lease{} }, nil}
}

type authenticationV1 struct{ rc rest.Interface }

func (g authenticationV1) SelfSubjectReviews() SelfSubjectReviewInterface {
	return resource[*authenticationv1.SelfSubjectReview, *authenticationv1.SelfSubjectReview]{g.rc, "selfsubjectreviews", "", func() *authenticationv1.SelfSubjectReview { return &authenticationv1.SelfSubjectReview{} }, nil}
}

// resource is one resource of one group version, in one namespace ("" for
// all namespaces or a cluster-scoped resource). Its requests are the ones
// client-go's generated clients send: protobuf preferred unless the
// configuration names a content type, the options as query parameters,
// TimeoutSeconds as the request's timeout. T has no list (L is unused) for
// the reviews, which are only created.
type resource[T, L runtime.Object] struct {
	rc        rest.Interface
	resource  string
	namespace string
	newObject func() T
	newList   func() L
}

// request starts a request for the resource.
func (r resource[T, L]) request(verb string) *rest.Request {
	return r.rc.Verb(verb).
		UseProtobufAsDefault().
		NamespaceIfScoped(r.namespace, r.namespace != "").
		Resource(r.resource)
}

func (r resource[T, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	out := r.newObject()
	err := r.request("GET").
		Name(name).
		VersionedParams(&opts, parameterCodec).
		Do(ctx).
		Into(out)
	return out, err
}

func (r resource[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := r.newList()
	err := r.request("GET").
		VersionedParams(&opts, parameterCodec).
		Timeout(timeout(opts)).
		Do(ctx).
		Into(out)
	return out, err
}

func (r resource[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return r.request("GET").
		VersionedParams(&opts, parameterCodec).
		Timeout(timeout(opts)).
		Watch(ctx)
}

func (r resource[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := r.newObject()
	err := r.request("POST").
		VersionedParams(&opts, parameterCodec).
		Body(obj).
		Do(ctx).
		Into(out)
	return out, err
}

func (r resource[T, L]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	out := r.newObject()
	m, err := meta.Accessor(obj)
	if err != nil {
		return out, err
	}
	err = r.request("PUT").
		Name(m.GetName()).
		VersionedParams(&opts, parameterCodec).
		Body(obj).
		Do(ctx).
		Into(out)
	return out, err
}

func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}
