package hook

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
)

func liveApp(ns, name string, ttl any) *unstructured.Unstructured {
	spec := map[string]any{"type": "Scala", "mode": "cluster", "mainApplicationFile": "local:///x.jar",
		"driver": map[string]any{}, "executor": map[string]any{}}
	if ttl != nil {
		spec["timeToLiveSeconds"] = ttl
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": name, "namespace": ns,
			"managedFields": []any{map[string]any{"manager": "kubectl"}}},
		"spec":   spec,
		"status": map[string]any{"applicationState": map[string]any{"state": "COMPLETED"}},
	}}
}

func TestLiveApplicationsAreLintedAsTheirManifests(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{SparkApplicationGVR: "SparkApplicationList"},
		liveApp("jobs", "no-ttl", nil), liveApp("jobs", "with-ttl", int64(3600)), liveApp("other", "elsewhere", nil))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sources, err := LiveSources(context.Background(), Clients{Dynamic: dyn}, log, RetryPolicy{}, []string{"jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) != 2 {
		t.Fatalf("%d sources, want the 2 applications of namespace jobs", len(sources))
	}
	findings := lint.Check(sources)
	if len(findings) != 1 || findings[0].Rule != lint.RuleMissingTTL || findings[0].File != "sparkapplication/jobs/no-ttl" {
		t.Fatalf("findings %+v, want one missing-ttl naming sparkapplication/jobs/no-ttl", findings)
	}
	for _, s := range sources {
		var doc map[string]any
		if err := yaml.Unmarshal(s.Data, &doc); err != nil {
			t.Fatal(err)
		}
		if _, ok := doc["status"]; ok {
			t.Errorf("%s keeps status", s.Name)
		}
		if _, ok := doc["metadata"].(map[string]any)["managedFields"]; ok {
			t.Errorf("%s keeps managedFields", s.Name)
		}
	}
}
