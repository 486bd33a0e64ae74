package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubetest"
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
		map[schema.GroupVersionResource]string{store.SparkApplicationGVR: "SparkApplicationList"},
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

func TestLiveChecksTheApacheGroupWhenServedAndReadable(t *testing.T) {
	apacheGVR := schema.GroupVersionResource{Group: "spark.apache.org", Version: "v1", Resource: "sparkapplications"}
	apacheApp := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "spark.apache.org/v1", "kind": "SparkApplication",
		"metadata": map[string]any{"name": "retained", "namespace": "jobs"},
		"spec":     map[string]any{"applicationTolerations": map[string]any{"resourceRetainPolicy": "Always"}},
	}}
	for _, tc := range []struct {
		name      string
		served    bool
		forbidden bool
		want      []string // source names
		warning   string
	}{
		{"served and readable: its applications are checked", true, false, []string{"sparkapplication/jobs/no-ttl", "sparkapplication.spark.apache.org/jobs/retained"}, ""},
		{"not served: skipped with a warning", false, false, []string{"sparkapplication/jobs/no-ttl"}, "does not serve it"},
		{"served but forbidden: skipped with a warning", true, true, []string{"sparkapplication/jobs/no-ttl"}, "not allowed to list them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube := fake.NewClientset()
			kube.Resources = []*metav1.APIResourceList{{GroupVersion: store.SparkApplicationGVR.GroupVersion().String(),
				APIResources: []metav1.APIResource{{Name: "sparkapplications", Kind: "SparkApplication", Namespaced: true}}}}
			if tc.served {
				kube.Resources = append(kube.Resources, &metav1.APIResourceList{GroupVersion: apacheGVR.GroupVersion().String(),
					APIResources: []metav1.APIResource{{Name: "sparkapplications", Kind: "SparkApplication", Namespaced: true}}})
			}
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
				map[schema.GroupVersionResource]string{store.SparkApplicationGVR: "SparkApplicationList", apacheGVR: "SparkApplicationList"},
				liveApp("jobs", "no-ttl", nil), apacheApp)
			if tc.forbidden {
				dyn.PrependReactor("list", "sparkapplications", func(a k8stesting.Action) (bool, runtime.Object, error) {
					if a.GetResource().Group != apacheGVR.Group {
						return false, nil, nil
					}
					return true, nil, apierrors.NewForbidden(apacheGVR.GroupResource().WithVersion("").GroupResource(), "", errors.New("no"))
				})
			}
			var logged bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logged, nil))
			sources, err := LiveSources(context.Background(), Clients{Kube: kubetest.FromClientset(kube), Dynamic: dyn}, log, RetryPolicy{}, []string{"jobs"})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range sources {
				names = append(names, s.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("sources %v, want %v", names, tc.want)
			}
			if tc.warning != "" && !strings.Contains(logged.String(), tc.warning) {
				t.Errorf("log %q, want a warning %q", logged.String(), tc.warning)
			}
		})
	}
}

// rbac preflight --for check asks for what check --live sends: the list of
// the Kubeflow applications, the list of the Apache ones where that group is
// served, and the optional namespace read, nothing more.
func TestCheckNeedsOnlyTheListOfApplications(t *testing.T) {
	var got []string
	for _, a := range PermissionsFor(CommandCheck) {
		got = append(got, fmt.Sprintf("%s %s.%s optional=%v whenServed=%v", a.Verb, a.Resource, a.Group, a.Optional, a.WhenServed))
	}
	want := []string{"list sparkapplications.sparkoperator.k8s.io optional=false whenServed=false",
		"list sparkapplications.spark.apache.org optional=false whenServed=true", "get namespaces. optional=true whenServed=false"}
	if !slices.Equal(got, want) {
		t.Errorf("check needs %q, want %q", got, want)
	}
}
