package policy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook/policy"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

var cp = kubecluster.NewShared(kubecluster.Options{})

func TestMain(m *testing.M) { os.Exit(cp.RunMain(m)) }

var sparkApps = schema.GroupVersionResource{Group: "sparkoperator.k8s.io", Version: "v1beta2", Resource: "sparkapplications"}

// warnings collects what the API server returns in Warning headers.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, msg)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// apply creates every object of the policy YAML, as kubectl apply -f would,
// and deletes them at the end: policies are cluster-scoped, and the
// package's tests share one API server.
func apply(t *testing.T, dyn dynamic.Interface, manifest []byte) {
	t.Helper()
	ctx := context.Background()
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return
			}
			t.Fatal(err)
		}
		gvk := u.GroupVersionKind()
		gvr, _ := meta.UnsafeGuessKindToResource(gvk)
		if _, err := dyn.Resource(gvr).Create(ctx, &u, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s %s: %v", gvk.Kind, u.GetName(), err)
		}
		name := u.GetName()
		t.Cleanup(func() { _ = dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	}
}

// install applies what `sparkcm-hook policy` prints for o.
func install(t *testing.T, dyn dynamic.Interface, o policy.Options) {
	t.Helper()
	y, err := policy.YAML(o)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, dyn, y)
}

// create creates the application ns/name (with a TTL unless ttl is nil),
// as a dry run when dryRun is set.
func create(ctx context.Context, dyn dynamic.Interface, ns, name string, ttl *int64, dryRun bool) (*unstructured.Unstructured, error) {
	opts := metav1.CreateOptions{}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return dyn.Resource(sparkApps).Namespace(ns).Create(ctx, app(ns, name, ttl), opts)
}

func app(ns, name string, ttl *int64) *unstructured.Unstructured {
	// driver and executor are required by the carried CRD's schema.
	spec := map[string]any{
		"type": "Scala", "mode": "cluster", "sparkVersion": "3.5.7", "mainApplicationFile": "local:///x.jar",
		"driver": map[string]any{}, "executor": map[string]any{},
	}
	if ttl != nil {
		spec["timeToLiveSeconds"] = *ttl
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

// settle waits until the API server enforces the newly created policy: it
// loads policies through an informer, so the first creates after applying may
// pass unchecked. probe reports whether the policy acted on a dry-run create.
func settle(t *testing.T, probe func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !probe() {
		if time.Now().After(deadline) {
			t.Fatal("the API server never enforced the policy")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func clients(t *testing.T) (dynamic.Interface, *warnings) {
	t.Helper()
	cfg := rest.CopyConfig(cp.Get(t).AdminConfig())
	w := &warnings{}
	cfg.WarningHandler = w
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, w
}

var ttl = int64(600)

// Policies are cluster-scoped and the tests share one API server: they run
// one after another (no t.Parallel), each removing its policy at the end.

func TestPolicyWarnsAboutAnApplicationWithoutTTLAndAdmitsIt(t *testing.T) {
	ns := cp.NewNamespace(t)
	dyn, w := clients(t)
	install(t, dyn, policy.Options{Action: "warn", Namespaces: []string{ns}})
	ctx := context.Background()
	settle(t, func() bool {
		_, err := create(ctx, dyn, ns, "probe", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		return len(w.take()) > 0
	})
	if _, err := create(ctx, dyn, ns, "no-ttl", nil, false); err != nil {
		t.Fatalf("warn denied the application: %v", err)
	}
	got := w.take()
	if len(got) != 1 || !strings.Contains(got[0], "spec.timeToLiveSeconds") {
		t.Errorf("warnings for an application without TTL: %q, want one naming spec.timeToLiveSeconds", got)
	}
	if _, err := create(ctx, dyn, ns, "with-ttl", &ttl, false); err != nil {
		t.Fatal(err)
	}
	if got := w.take(); len(got) != 0 {
		t.Errorf("warnings for an application with a TTL: %q", got)
	}
}

func TestPolicyDeniesAnApplicationWithoutTTLOnlyInItsNamespaces(t *testing.T) {
	ns := cp.NewNamespace(t)
	other := cp.NewNamespace(t)
	dyn, _ := clients(t)
	install(t, dyn, policy.Options{Action: "deny", Namespaces: []string{ns}})
	ctx := context.Background()
	settle(t, func() bool {
		_, err := create(ctx, dyn, ns, "probe", nil, true)
		return err != nil && strings.Contains(err.Error(), "spec.timeToLiveSeconds")
	})
	_, err := create(ctx, dyn, ns, "no-ttl", nil, false)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.timeToLiveSeconds") {
		t.Fatalf("create without TTL: %v, want 422 Invalid naming spec.timeToLiveSeconds", err)
	}
	if _, err := create(ctx, dyn, ns, "with-ttl", &ttl, false); err != nil {
		t.Fatalf("create with TTL: %v", err)
	}
	if _, err := create(ctx, dyn, other, "no-ttl", nil, false); err != nil {
		t.Fatalf("create without TTL in a namespace the policy does not name: %v", err)
	}
}

func TestPolicyDefaultTTLIsSetWhereMissingAndThenPasses(t *testing.T) {
	ns := cp.NewNamespace(t)
	dyn, _ := clients(t)
	install(t, dyn, policy.Options{Action: "deny", Namespaces: []string{ns}, DefaultTTL: time.Hour})
	ctx := context.Background()
	// Mutation and validation load independently: wait until a dry run both
	// passes and comes back with the default.
	settle(t, func() bool {
		got, err := create(ctx, dyn, ns, "probe", nil, true)
		if err != nil {
			return false
		}
		v, _, _ := unstructured.NestedInt64(got.Object, "spec", "timeToLiveSeconds")
		return v == 3600
	})
	got, err := create(ctx, dyn, ns, "no-ttl", nil, false)
	if err != nil {
		t.Fatalf("create without TTL under a default: %v", err)
	}
	if v, _, _ := unstructured.NestedInt64(got.Object, "spec", "timeToLiveSeconds"); v != 3600 {
		t.Errorf("timeToLiveSeconds = %d, want the default 3600", v)
	}
	got, err = create(ctx, dyn, ns, "own-ttl", &ttl, false)
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedInt64(got.Object, "spec", "timeToLiveSeconds"); v != ttl {
		t.Errorf("timeToLiveSeconds = %d, want the application's own %d", v, ttl)
	}
}
