package hook_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// A refused request is retried only while the API server may be starting,
// which it tells on /readyz. A cluster may forbid /readyz to the tool's
// credentials (here: the built-in roles that allow it lose it, and the
// account has no other grant): a refusal must then still read as RBAC's
// verdict, exit 3, and never as a server "not ready yet".
func TestARefusalIsRBACsVerdictWhereReadyzIsForbiddenToTheTool(t *testing.T) {
	skipShort(t)
	// A control plane of its own: the built-in roles change for everyone.
	c := kubecluster.ForTest(t, kubecluster.Options{})
	ctx := ctxFor(t)
	admin := c.Clientset()
	ns := c.NewNamespace(t)
	cfg, err := c.ServiceAccountConfig(ctx, ns, "janitor") // granted nothing in ns
	if err != nil {
		t.Fatal(err)
	}
	sa := kubeFor(t, cfg)
	tool := clientsFor(t, cfg, nil)
	sweepAsTool := func() error {
		_, err := hook.Sweep(ctx, tool, testLog(t), hook.SweepOptions{Namespace: ns, Retry: hook.RetryPolicy{Budget: 3 * time.Second}})
		return err
	}

	for _, role := range []string{"system:public-info-viewer", "system:discovery"} {
		dropFromClusterRole(ctx, t, admin, role, func(r *[]string) { *r = slices.DeleteFunc(*r, func(u string) bool { return u == "/readyz" }) }, nil)
	}
	pollUntil(ctx, t, "/readyz to be forbidden to the account", func(ctx context.Context) bool {
		var code int
		sa.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
		return code == 403
	})

	t.Run("access reviews allowed", func(t *testing.T) {
		// The account may still ask whether it may read /readyz: the
		// answer "no" shows the authorizer is loaded, so the refusal is final.
		var fe *hook.ForbiddenError
		if err := sweepAsTool(); !errors.As(err, &fe) {
			t.Fatalf("err %v, want a ForbiddenError (exit 3)", err)
		}
	})

	t.Run("access reviews forbidden too", func(t *testing.T) {
		dropFromClusterRole(ctx, t, admin, "system:basic-user", nil, func(r *[]string) {
			*r = slices.DeleteFunc(*r, func(res string) bool { return res == "selfsubjectaccessreviews" })
		})
		pollUntil(ctx, t, "access reviews to be forbidden to the account", func(ctx context.Context) bool {
			_, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/readyz", Verb: "get"}},
			}, metav1.CreateOptions{})
			return apierrors.IsForbidden(err)
		})
		// Nothing tells a starting server from a settled refusal: the
		// refusal is retried within the budget, then returned as what it is.
		err := sweepAsTool()
		var fe *hook.ForbiddenError
		if !errors.As(err, &fe) || fe.Err == nil || !strings.Contains(fe.Err.Error(), "could not be told") {
			t.Fatalf("err %v (under it: %v), want a ForbiddenError, retried because readiness could not be told", err, errors.Unwrap(err))
		}
	})
}

// dropFromClusterRole edits a built-in ClusterRole's rules (nonResourceURLs,
// resources) and marks it so the API server does not restore it.
func dropFromClusterRole(ctx context.Context, t *testing.T, kube kubernetes.Interface, name string, urls, resources func(*[]string)) {
	t.Helper()
	cr, err := kube.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cr.Rules {
		if urls != nil {
			urls(&cr.Rules[i].NonResourceURLs)
		}
		if resources != nil {
			resources(&cr.Rules[i].Resources)
		}
	}
	cr.Rules = slices.DeleteFunc(cr.Rules, func(r rbacv1.PolicyRule) bool { return len(r.NonResourceURLs) == 0 && len(r.Resources) == 0 })
	if cr.Annotations == nil {
		cr.Annotations = map[string]string{}
	}
	cr.Annotations["rbac.authorization.kubernetes.io/autoupdate"] = "false"
	if _, err := kube.RbacV1().ClusterRoles().Update(ctx, cr, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func pollUntil(ctx context.Context, t *testing.T, what string, cond func(context.Context) bool) {
	t.Helper()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) { return cond(ctx), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
