package rbac

import (
	"context"
	"log/slog"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// Review is the API server's own answer to one request, from a
// SubjectAccessReview (for someone else) or a SelfSubjectAccessReview.
type Review struct {
	Allowed bool `json:"allowed"`
	// Denied is an explicit "no" from an authorizer (a webhook); RBAC never
	// denies, it only fails to allow.
	Denied          bool   `json:"denied,omitempty"`
	Reason          string `json:"reason,omitempty"`
	EvaluationError string `json:"evaluationError,omitempty"`
}

// Incomplete says why the answer may be incomplete, or "": the API server
// reported an evaluation error, or RBAC denied while some binding could not
// be evaluated (its reason then lists the errors, such as a missing role).
func (r Review) Incomplete() string {
	switch {
	case r.EvaluationError != "":
		return r.EvaluationError
	case !r.Allowed && strings.Contains(r.Reason, "RBAC: "):
		// The authorizer chain prefixes each authorizer's reason ("rbac: RBAC: ...").
		_, after, _ := strings.Cut(r.Reason, "RBAC: ")
		return after
	}
	return ""
}

func attributes(req Request) *authorizationv1.ResourceAttributes {
	return &authorizationv1.ResourceAttributes{
		Namespace: req.Namespace, Verb: req.Verb, Group: req.Group,
		Resource: req.Resource, Subresource: req.Subresource, Name: req.Name,
	}
}

// SubjectAccessReview asks the API server whether id may send req, through
// every authorizer it runs (RBAC, Node, webhooks, system:masters).
func SubjectAccessReview(ctx context.Context, kc kube.Interface, log *slog.Logger, retry hook.RetryPolicy, id Identity, req Request) (Review, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: id.User, Groups: id.Groups, ResourceAttributes: attributes(req),
	}}
	var out *authorizationv1.SubjectAccessReview
	err := kube.Retry(ctx, log, retry, "create subjectaccessreview", func(ctx context.Context) error {
		var err error
		out, err = kc.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return Review{}, kube.AsForbidden(err, "create", "authorization.k8s.io", "subjectaccessreviews", "")
	}
	return Review{Allowed: out.Status.Allowed, Denied: out.Status.Denied, Reason: out.Status.Reason, EvaluationError: out.Status.EvaluationError}, nil
}

// SelfSubjectAccessReview asks whether the caller may send req.
func SelfSubjectAccessReview(ctx context.Context, kc kube.Interface, log *slog.Logger, retry hook.RetryPolicy, req Request) (Review, error) {
	ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: attributes(req)}}
	var out *authorizationv1.SelfSubjectAccessReview
	err := kube.Retry(ctx, log, retry, "create selfsubjectaccessreview", func(ctx context.Context) error {
		var err error
		out, err = kc.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return Review{}, kube.AsForbidden(err, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "")
	}
	return Review{Allowed: out.Status.Allowed, Denied: out.Status.Denied, Reason: out.Status.Reason, EvaluationError: out.Status.EvaluationError}, nil
}
