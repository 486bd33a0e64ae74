package rbac

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/pager"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// Gap is a kind the caller could not read: the output says so instead of
// leaving a silent hole.
type Gap struct {
	Resource  string `json:"resource"`            // e.g. "clusterrolebindings", "pods"
	Namespace string `json:"namespace,omitempty"` // "" for cluster-scoped kinds or all namespaces
	Reason    string `json:"reason"`
	// Forbidden is set when RBAC refused the LIST.
	Forbidden bool `json:"forbidden"`
}

func (g Gap) String() string {
	where := "in all namespaces"
	switch {
	case g.Namespace != "":
		where = "in namespace " + g.Namespace
	case clusterScoped[g.Resource]:
		where = "(cluster-scoped)"
	}
	return fmt.Sprintf("could not list %s %s: %s", g.Resource, where, g.Reason)
}

var clusterScoped = map[string]bool{"namespaces": true, "clusterroles": true, "clusterrolebindings": true}

// NothingReadError is returned when every LIST was refused; it is a
// *hook.ForbiddenError underneath, so the command exits 3.
type NothingReadError struct {
	Gaps      []Gap
	Forbidden *hook.ForbiddenError
}

func (e *NothingReadError) Error() string {
	return fmt.Sprintf("could not read anything (%d kinds refused): %v", len(e.Gaps), e.Forbidden)
}

func (e *NothingReadError) Unwrap() error { return e.Forbidden }

// reader lists kinds page by page, with retry, and records what it could
// not read.
type reader struct {
	c        hook.Clients
	log      *slog.Logger
	retry    hook.RetryPolicy
	pageSize int64
	gaps     []Gap
	read     int // kinds (or namespaces of a kind) read
	first    *hook.ForbiddenError
}

func newReader(c hook.Clients, log *slog.Logger, retry hook.RetryPolicy, pageSize int64) *reader {
	if pageSize <= 0 {
		pageSize = hook.DefaultPageSize
	}
	return &reader{c: c, log: log, retry: retry, pageSize: pageSize}
}

// list reads one kind in ns ("" for all namespaces or a cluster-scoped
// kind), page by page. A 403 or an API the server does not serve becomes a
// Gap and false; any other failure is returned. A pass that fails part way
// is started again after reset, so nothing is counted twice.
func (r *reader) list(ctx context.Context, gvr schema.GroupVersionResource, ns string,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error), each func(runtime.Object), reset func()) (bool, error) {
	what := "list " + gvr.Resource
	err := kube.Retry(ctx, r.log, r.retry, what, func(ctx context.Context) error {
		reset()
		p := pager.New(list)
		p.PageSize = r.pageSize
		p.PageBufferSize = 1
		return p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
			each(obj)
			return nil
		})
	})
	switch {
	case err == nil:
		r.read++
		return true, nil
	case apierrors.IsForbidden(err):
		reset()
		var fe *hook.ForbiddenError
		if errors.As(kube.AsForbidden(err, "list", gvr.Group, gvr.Resource, ns), &fe) && r.first == nil {
			r.first = fe
		}
		r.gaps = append(r.gaps, Gap{Resource: gvr.Resource, Namespace: ns, Reason: "forbidden: " + forbiddenReason(err), Forbidden: true})
		r.log.Debug("could not list; the output says so", "resource", gvr.Resource, "namespace", ns, "err", err)
		return false, nil
	case apierrors.IsNotFound(err):
		reset()
		r.gaps = append(r.gaps, Gap{Resource: gvr.Resource, Namespace: ns, Reason: "not served by this API server"})
		return false, nil
	default:
		where := ns
		if where == "" {
			where = "(all)"
		}
		return false, fmt.Errorf("%s in namespace %s: %w", what, where, err)
	}
}

func forbiddenReason(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// nothingRead is the error for "every LIST was refused".
func (r *reader) nothingRead() error {
	if r.read > 0 || len(r.gaps) == 0 {
		return nil
	}
	fe := r.first
	if fe == nil {
		fe = &hook.ForbiddenError{Verb: "list", Resource: r.gaps[0].Resource}
	}
	return &NothingReadError{Gaps: r.gaps, Forbidden: fe}
}

var (
	gvrClusterRoles        = rbacv1.SchemeGroupVersion.WithResource("clusterroles")
	gvrClusterRoleBindings = rbacv1.SchemeGroupVersion.WithResource("clusterrolebindings")
	gvrRoles               = rbacv1.SchemeGroupVersion.WithResource("roles")
	gvrRoleBindings        = rbacv1.SchemeGroupVersion.WithResource("rolebindings")
	gvrServiceAccounts     = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	gvrPods                = corev1.SchemeGroupVersion.WithResource("pods")
	gvrNamespaces          = corev1.SchemeGroupVersion.WithResource("namespaces")
	gvrReplicaSets         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	gvrJobs                = schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}
)

// graphScope says which RoleBindings and Roles to read.
type graphScope struct {
	// namespace is where requests are evaluated ("" for all namespaces).
	namespace string
	// everywhere reads RoleBindings and Roles of every namespace even when
	// namespace is set (the inventory: a RoleBinding in another namespace
	// can name an account of this one), falling back to namespace alone
	// when that is refused.
	everywhere bool
}

// loadGraph reads ClusterRoles, ClusterRoleBindings, Roles and RoleBindings,
// one paged LIST each.
func (r *reader) loadGraph(ctx context.Context, scope graphScope) (*Graph, error) {
	g := NewGraph()
	rb := r.c.Kube.RbacV1()
	if _, err := r.list(ctx, gvrClusterRoles, "", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return rb.ClusterRoles().List(ctx, o)
	}, func(obj runtime.Object) {
		cr := obj.(*rbacv1.ClusterRole)
		trimMeta(&cr.ObjectMeta)
		g.AddClusterRole(cr)
	}, func() { clear(g.clusterRoles) }); err != nil {
		return nil, err
	}
	if _, err := r.list(ctx, gvrClusterRoleBindings, "", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return rb.ClusterRoleBindings().List(ctx, o)
	}, func(obj runtime.Object) {
		g.AddClusterRoleBinding(obj.(*rbacv1.ClusterRoleBinding))
	}, func() { g.dropBindings("ClusterRoleBinding") }); err != nil {
		return nil, err
	}
	nsList := []string{scope.namespace}
	if scope.everywhere && scope.namespace != "" {
		// Every namespace first; the namespace alone when that is refused.
		nsList = []string{"", scope.namespace}
	}
	for _, ns := range nsList {
		ok, err := r.list(ctx, gvrRoles, ns, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return rb.Roles(ns).List(ctx, o)
		}, func(obj runtime.Object) {
			ro := obj.(*rbacv1.Role)
			trimMeta(&ro.ObjectMeta)
			g.AddRole(ro)
		}, func() { clear(g.roles) })
		if err != nil || ok {
			if err != nil {
				return nil, err
			}
			break
		}
	}
	for _, ns := range nsList {
		ok, err := r.list(ctx, gvrRoleBindings, ns, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return rb.RoleBindings(ns).List(ctx, o)
		}, func(obj runtime.Object) {
			g.AddRoleBinding(obj.(*rbacv1.RoleBinding))
		}, func() { g.dropBindings("RoleBinding") })
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
	}
	return g, nil
}

// dropBindings forgets the bindings of one kind (a LIST pass starts again).
func (g *Graph) dropBindings(kind string) {
	old := g.bindings
	g.bindings, g.byKey, g.clusterBound, g.nsBound = nil, map[string][]subjectUse{}, nil, map[string][]int{}
	for _, b := range old {
		if b.ref.Kind != kind {
			g.addBinding(b)
		}
	}
}

// trimMeta drops what the graph never reads, so a page of roles is not
// kept with its managedFields and annotations.
func trimMeta(m *metav1.ObjectMeta) {
	m.ManagedFields, m.Annotations = nil, nil
}
