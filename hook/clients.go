package hook

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// SparkApplicationGVR is the Kubeflow Spark Operator's resource. It is read
// through the dynamic client so the tool does not depend on the operator's
// Go module and still works where the CRD is not installed.
var SparkApplicationGVR = schema.GroupVersionResource{
	Group:    "sparkoperator.k8s.io",
	Version:  "v1beta2",
	Resource: "sparkapplications",
}

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Clients is everything the library talks to. Each is an interface so that
// tests pass fake clientsets (internal/kubetest adapts client-go's), a real
// test control plane, or clients whose HTTP transport injects faults.
type Clients struct {
	// Kube is the typed API the tool uses (Pods, Events, RBAC, access
	// reviews, discovery), without client-go's clientset: see package kube.
	Kube     kube.Interface
	Metadata metadata.Interface
	Dynamic  dynamic.Interface
	// Clock is the API server's clock, learnt from its answers; ages are
	// measured on it. Nil (fake clients) means the local clock.
	Clock *ServerClock
	// Throttle adapts the requests in flight to the API server's
	// throttling and counts the answers that were retried (Result.Retries).
	// Nil (fake clients) holds nothing back and counts nothing.
	Throttle *Throttle
}

// NewClients builds all clients from one rest.Config, so they share its
// QPS/burst limits, user agent and transport wrappers.
func NewClients(cfg *rest.Config) (Clients, error) {
	clock := &ServerClock{}
	throttle := NewThrottle()
	cfg = rest.CopyConfig(cfg)
	// Innermost: a delete's guard is asked after it waited for its place.
	cfg.Wrap(guardSends)
	cfg.Wrap(clock.wrap)
	// Outermost, below client-go's own retries: it sees every try.
	cfg.Wrap(throttle.wrap)
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

// notReady asks the API server's /readyz (which every identity may read
// once RBAC is loaded): a 5xx, no answer, or a 403 (what a server that has
// just started answers before its RBAC caches are filled) mean not ready.
// 200 means ready, and 401 that these credentials are refused whatever the
// server's state. Clients without a REST client (fakes) count as ready.
func (c Clients) notReady(ctx context.Context) bool {
	if c.Kube == nil {
		return false
	}
	rc := c.Kube.Discovery().RESTClient()
	if rc == nil || reflect.ValueOf(rc).IsNil() {
		return false
	}
	var code int
	rc.Get().AbsPath("/readyz").Do(ctx).StatusCode(&code)
	return code == 0 || code == 403 || code >= 500
}
