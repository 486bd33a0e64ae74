// Package kubetest hands client-go's clientset, real or fake, to code that
// takes a kube.Interface. It imports the clientset, so only tests and the
// test tools use it: the sparkcm-hook binary must not.
package kubetest

import (
	"k8s.io/client-go/kubernetes"
	typedauthenticationv1 "k8s.io/client-go/kubernetes/typed/authentication/v1"
	typedauthorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	typedrbacv1 "k8s.io/client-go/kubernetes/typed/rbac/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// FromClientset is cs as a kube.Interface. The typed clients it returns are
// cs's own, so a fake clientset's reactors and actions see every call.
func FromClientset(cs kubernetes.Interface) kube.Interface { return clientset{cs} }

type clientset struct{ cs kubernetes.Interface }

func (c clientset) CoreV1() kube.CoreV1Interface { return coreV1{c.cs.CoreV1()} }
func (c clientset) RbacV1() kube.RbacV1Interface { return rbacV1{c.cs.RbacV1()} }
func (c clientset) AuthorizationV1() kube.AuthorizationV1Interface {
	return authorizationV1{c.cs.AuthorizationV1()}
}
func (c clientset) AuthenticationV1() kube.AuthenticationV1Interface {
	return authenticationV1{c.cs.AuthenticationV1()}
}
func (c clientset) Discovery() kube.DiscoveryInterface { return c.cs.Discovery() }

func (c clientset) CoordinationV1() kube.CoordinationV1Interface { return coordinationV1(c) }

type coordinationV1 struct{ cs kubernetes.Interface }

func (c coordinationV1) Leases(ns string) kube.LeaseInterface {
	return c.cs.CoordinationV1().Leases(ns)
}

type coreV1 struct{ g typedcorev1.CoreV1Interface }

func (c coreV1) Pods(ns string) kube.PodInterface     { return c.g.Pods(ns) }
func (c coreV1) Events(ns string) kube.EventInterface { return c.g.Events(ns) }
func (c coreV1) Namespaces() kube.NamespaceInterface  { return c.g.Namespaces() }
func (c coreV1) ServiceAccounts(ns string) kube.ServiceAccountInterface {
	return c.g.ServiceAccounts(ns)
}

type rbacV1 struct{ g typedrbacv1.RbacV1Interface }

func (c rbacV1) Roles(ns string) kube.RoleInterface               { return c.g.Roles(ns) }
func (c rbacV1) RoleBindings(ns string) kube.RoleBindingInterface { return c.g.RoleBindings(ns) }
func (c rbacV1) ClusterRoles() kube.ClusterRoleInterface          { return c.g.ClusterRoles() }
func (c rbacV1) ClusterRoleBindings() kube.ClusterRoleBindingInterface {
	return c.g.ClusterRoleBindings()
}

type authorizationV1 struct {
	g typedauthorizationv1.AuthorizationV1Interface
}

func (c authorizationV1) SubjectAccessReviews() kube.SubjectAccessReviewInterface {
	return c.g.SubjectAccessReviews()
}
func (c authorizationV1) SelfSubjectAccessReviews() kube.SelfSubjectAccessReviewInterface {
	return c.g.SelfSubjectAccessReviews()
}

type authenticationV1 struct {
	g typedauthenticationv1.AuthenticationV1Interface
}

func (c authenticationV1) SelfSubjectReviews() kube.SelfSubjectReviewInterface {
	return c.g.SelfSubjectReviews()
}
