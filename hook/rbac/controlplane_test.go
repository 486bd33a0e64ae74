package rbac_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubetest"
)

// cp runs RBAC and the controller-manager, whose clusterrole-aggregation
// controller fills in aggregated ClusterRoles. It starts with the first test
// that needs it; under -short those tests skip and it never starts.
var cp = kubecluster.NewShared(kubecluster.Options{ControllerManager: true})

func TestMain(m *testing.M) { os.Exit(cp.RunMain(m)) }

func needControlPlane(t *testing.T) {
	t.Helper()
	cp.Get(t)
}

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func adminClients(t *testing.T) hook.Clients {
	c, err := hook.NewClients(cp.Get(t).AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// objects creates RBAC objects, ServiceAccounts and Pods as the admin.
type objects struct {
	t    *testing.T
	ctx  context.Context
	kube kubernetes.Interface
}

func (o objects) sa(ns, name string) {
	o.t.Helper()
	if _, err := o.kube.CoreV1().ServiceAccounts(ns).Create(o.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		o.t.Fatal(err)
	}
}

func (o objects) role(ns, name string, rules ...rbacv1.PolicyRule) {
	o.t.Helper()
	if _, err := o.kube.RbacV1().Roles(ns).Create(o.ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		o.t.Fatal(err)
	}
}

func (o objects) clusterRole(cr *rbacv1.ClusterRole) {
	o.t.Helper()
	if _, err := o.kube.RbacV1().ClusterRoles().Create(o.ctx, cr, metav1.CreateOptions{}); err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() {
		_ = o.kube.RbacV1().ClusterRoles().Delete(context.Background(), cr.Name, metav1.DeleteOptions{})
	})
}

func (o objects) roleBinding(ns, name, kind, role string, subjects ...rbacv1.Subject) {
	o.t.Helper()
	b := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}, Subjects: subjects}
	if _, err := o.kube.RbacV1().RoleBindings(ns).Create(o.ctx, b, metav1.CreateOptions{}); err != nil {
		o.t.Fatal(err)
	}
}

func (o objects) clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) {
	o.t.Helper()
	b := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
	if _, err := o.kube.RbacV1().ClusterRoleBindings().Create(o.ctx, b, metav1.CreateOptions{}); err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() {
		_ = o.kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

func (o objects) pod(ns, name, sa string, labels map[string]string, owners ...metav1.OwnerReference) {
	o.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/none"}},
			AutomountServiceAccountToken: ptrFalse()},
	}
	if _, err := o.kube.CoreV1().Pods(ns).Create(o.ctx, p, metav1.CreateOptions{}); err != nil {
		o.t.Fatal(err)
	}
}

func ptrFalse() *bool { b := false; return &b }

func sa(ns, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
}
func user(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}
func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}
func rule(groups, resources, verbs []string, names ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs, ResourceNames: names}
}
func l(v ...string) []string { return v }

// answerFor reads who-can's rows the way its output is meant to be read:
// a subject may do what its own row says, plus what the rows of the groups
// it is in say (a user named in no binding in scope has no row of its own),
// in the namespace asked about or everywhere.
func answerFor(rows []rbac.WhoCanRow, s rbac.Subject, ns string) rbac.Answer {
	id := s.Identity()
	var a rbac.Answer
	for _, r := range rows {
		if r.Reach != rbac.ReachDirect || (r.Namespace != ns && r.Namespace != "") {
			continue
		}
		if r.Subject == s || (r.Subject.Kind == rbacv1.GroupKind && slices.Contains(id.Groups, r.Subject.Name)) {
			a = union(a, r.Answer)
		}
	}
	return a
}

func union(a, b rbac.Answer) rbac.Answer {
	if a.Scope == rbac.AllNames || b.Scope == rbac.AllNames {
		return rbac.Answer{Scope: rbac.AllNames}
	}
	out := rbac.Answer{Scope: max(a.Scope, b.Scope)}
	for _, n := range append(slices.Clone(a.Names), b.Names...) {
		if !slices.Contains(out.Names, n) {
			out.Names = append(out.Names, n)
		}
	}
	slices.Sort(out.Names)
	return out
}

// apiIdentity is who the API server sees for a subject, written out here
// rather than taken from the package under test (TestServiceAccountTokens
// CarryTheImplicitGroups checks it against a real token): an account's
// user and its three implicit groups, a user in system:authenticated, a
// group alone.
func apiIdentity(s rbac.Subject) rbac.Identity {
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		return rbac.Identity{User: "system:serviceaccount:" + s.Namespace + ":" + s.Name,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + s.Namespace, "system:authenticated"}}
	case rbacv1.UserKind:
		return rbac.Identity{User: s.Name, Groups: []string{"system:authenticated"}}
	default:
		return rbac.Identity{Groups: []string{s.Name}}
	}
}

// agreement checks, for every subject and every name tried, that who-can's
// answer is the API server's: a request without a name is allowed exactly
// when the answer is "all names", and a request for a name exactly when
// the answer allows that name. It returns how many reviews it compared.
func agreement(t *testing.T, ctx context.Context, kube kubernetes.Interface, rows []rbac.WhoCanRow, subjects []rbac.Subject, req rbac.Request, names []string) int {
	t.Helper()
	n := 0
	for _, s := range subjects {
		a := answerFor(rows, s, req.Namespace)
		for _, name := range append([]string{""}, names...) {
			r := req
			r.Name = name
			rev, err := rbac.SubjectAccessReview(ctx, kubetest.FromClientset(kube), testLog(), hook.RetryPolicy{}, apiIdentity(s), r)
			if err != nil {
				t.Fatal(err)
			}
			n++
			if want := a.Allows(name); rev.Allowed != want {
				t.Errorf("%s: %s in %q: who-can says %s (allows %v), SubjectAccessReview says allowed=%v (%s)",
					s, r, req.Namespace, a, want, rev.Allowed, rev.Reason)
			}
		}
	}
	return n
}

func whoCan(t *testing.T, ctx context.Context, o rbac.WhoCanOptions) *rbac.WhoCanResult {
	t.Helper()
	res, err := rbac.WhoCan(ctx, adminClients(t), testLog(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitAggregated waits for the clusterrole-aggregation controller to copy
// want into the aggregated ClusterRole name.
func waitAggregated(t *testing.T, ctx context.Context, kube kubernetes.Interface, name string, want rbacv1.PolicyRule) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cr, err := kube.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, r := range cr.Rules {
			if slices.Equal(r.Resources, want.Resources) && slices.Equal(r.Verbs, want.Verbs) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("ClusterRole %s was not aggregated (is the clusterrole-aggregation controller running?): %v", name, err)
	}
}

func subjectsOf(nss ...string) func(names ...string) []rbac.Subject {
	return func(names ...string) []rbac.Subject {
		var out []rbac.Subject
		for _, ns := range nss {
			for _, n := range names {
				out = append(out, rbac.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: n})
			}
		}
		return out
	}
}

func fmtRows(rows []rbac.WhoCanRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s %q %s %s %s %v\n", r.Reach, r.Namespace, r.Request, r.Subject, r.Answer, r.Via)
	}
	return b.String()
}
