package sparksubmit

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// sparkRules is what spark-submit and a Spark driver need: the driver Pod, its
// Service and ConfigMaps, executor Pods and their maps, PVCs on demand, and
// (Spark 4.x) the NetworkPolicy that admits only the application's own Pods to
// its executors.
var sparkRules = []rbacv1.PolicyRule{{
	APIGroups: []string{""},
	Resources: []string{"pods", "services", "configmaps", "persistentvolumeclaims"},
	Verbs:     sparkVerbs,
}, {
	APIGroups: []string{"networking.k8s.io"},
	Resources: []string{"networkpolicies"},
	Verbs:     sparkVerbs,
}}

var sparkVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// SubmitToken gives the ServiceAccount saNamespace/name what Spark needs, in
// namespace ns (ns "" : in every namespace, through a ClusterRole, as the
// Spark Operator's chart grants its controller), and returns a one-hour
// token for it. kube must be allowed to create RBAC objects (an admin).
func SubmitToken(ctx context.Context, kube kubernetes.Interface, saNamespace, name, ns string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := kube.CoreV1().ServiceAccounts(saNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create serviceaccount %s/%s: %w", saNamespace, name, err)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: saNamespace}}
	roleName := "sparkbed-" + name
	if ns == "" {
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: sparkRules}
		if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create clusterrole %s: %w", roleName, err)
		}
		bind := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: roleName + "-" + saNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
			Subjects:   subject,
		}
		if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, bind, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create clusterrolebinding %s: %w", bind.Name, err)
		}
	} else {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: sparkRules}
		if _, err := kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create role %s/%s: %w", ns, roleName, err)
		}
		bind := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: roleName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName},
			Subjects:   subject,
		}
		if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, bind, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("create rolebinding %s/%s: %w", ns, roleName, err)
		}
	}
	expiry := int64(3600)
	tr, err := kube.CoreV1().ServiceAccounts(saNamespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for serviceaccount %s/%s: %w", saNamespace, name, err)
	}
	return tr.Status.Token, nil
}
