package hook

import (
	"context"
	"fmt"
	"reflect"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
)

// Clients is everything the library talks to. Each is an interface so that
// tests pass fake clientsets (internal/kubetest adapts client-go's), a real
// test control plane, or clients whose HTTP transport injects faults.
type Clients struct {
	// Kube is the typed API the tool uses (Pods, Events, RBAC, access
	// reviews, discovery), without client-go's clientset: see package kube.
	Kube     kube.Interface
	Metadata metadata.Interface
	Dynamic  dynamic.Interface
	// Store, when set, answers every request the orchestration makes of
	// the objects it judges (the unit tier sets memstore's); otherwise
	// Kube, Metadata and Dynamic do (store.New).
	Store store.Store
	// Clock is the API server's clock, learnt from its answers; ages are
	// measured on it. Nil (fake clients) means the local clock.
	Clock *ServerClock
	// Throttle adapts the requests in flight to the API server's
	// throttling and counts the answers that were retried (Result.Retries).
	// Nil (fake clients) holds nothing back and counts nothing.
	Throttle *Throttle
}

// api is the Store the orchestration reads and deletes through.
func (c Clients) api() store.Store {
	if c.Store != nil {
		return c.Store
	}
	return store.New(c.Kube, c.Metadata, c.Dynamic)
}

// NewClients builds all clients from one rest.Config, so they share its
// QPS/burst limits, user agent and transport wrappers.
func NewClients(cfg *rest.Config) (Clients, error) {
	clock := &ServerClock{}
	throttle := kube.NewThrottle()
	cfg = rest.CopyConfig(cfg)
	// Innermost: a delete's guard is asked after it waited for its place.
	cfg.Wrap(guardSends)
	cfg.Wrap(clock.Wrap)
	// Outermost, below client-go's own retries: it sees every try.
	cfg.Wrap(throttle.Wrap)
	kc, err := kube.New(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("build kubernetes client: %w", err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("build metadata client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Clients{}, fmt.Errorf("build dynamic client: %w", err)
	}
	return Clients{Kube: kc, Metadata: md, Dynamic: dyn, Clock: clock, Throttle: throttle}, nil
}

// readiness asks the API server's /readyz, which every identity may read
// once RBAC is loaded: 200 is ready; a 5xx or no answer not ready; 401
// means these credentials are refused whatever the server's state. A 403
// is what a server that has just started answers everyone before its RBAC
// caches are filled, but also what a cluster that forbids /readyz to these
// credentials answers for good. A SelfSubjectAccessReview of "get /readyz"
// tells them apart: answered "not allowed", the authorizer is loaded and
// the policy refuses /readyz, so the server is ready; answered "allowed",
// the authorizer contradicts itself, as it does while its caches fill;
// refused too, the state cannot be told. Clients without a REST client
// (fakes) count as ready.
func (c Clients) readiness(ctx context.Context) kube.Readiness {
	if c.Kube == nil {
		return kube.Ready
	}
	rc := c.Kube.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		return kube.Ready
	}
	var code int
	rc.Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
	switch {
	case code == 0 || code >= 500:
		return kube.NotReady
	case code != 403:
		return kube.Ready
	}
	review, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/readyz", Verb: "get"}},
	}, metav1.CreateOptions{})
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return kube.UnknownReadiness
	case err != nil, review.Status.Allowed:
		return kube.NotReady
	}
	return kube.Ready
}
