package kube_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// An aggregated API whose server is down answers 503 for its group version
// while every other group answers: discovery must return what it could read
// and name the group version it could not, as client-go's does, so that
// `rbac who-can` still resolves names from the rest. (A real API server
// leaves unavailable APIServices out of /apis, so the error path needs a
// stand-in; the whole path against a real one is in hook's control-plane
// tests.)
func TestDiscoveryReturnsWhatItReadWhenAGroupVersionFails(t *testing.T) {
	answers := map[string]any{
		"/api": metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}},
		"/apis": metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{
			{Name: "apps", Versions: []metav1.GroupVersionForDiscovery{{GroupVersion: "apps/v1", Version: "v1"}}},
			{Name: "metrics.k8s.io", Versions: []metav1.GroupVersionForDiscovery{{GroupVersion: "metrics.k8s.io/v1beta1", Version: "v1beta1"}}},
		}},
		"/api/v1": metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1",
			APIResources: []metav1.APIResource{{Name: "configmaps", SingularName: "configmap", ShortNames: []string{"cm"}, Namespaced: true}}},
		"/apis/apps/v1": metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "apps/v1",
			APIResources: []metav1.APIResource{{Name: "deployments", SingularName: "deployment", Namespaced: true}}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := answers[r.URL.Path]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Code: http.StatusServiceUnavailable, Reason: metav1.StatusReasonServiceUnavailable, Message: "the server is currently unable to handle the request"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	}))
	defer srv.Close()
	c, err := kube.New(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}

	groups, lists, err := c.Discovery().ServerGroupsAndResources()
	var failed *kube.GroupDiscoveryFailedError
	if !errors.As(err, &failed) {
		t.Fatalf("want a *GroupDiscoveryFailedError, got %v", err)
	}
	bad := schema.GroupVersion{Group: "metrics.k8s.io", Version: "v1beta1"}
	if len(failed.Groups) != 1 || failed.Groups[bad] == nil {
		t.Errorf("failed group versions: want only %s, got %v", bad, failed.Groups)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name)
	}
	if len(names) != 3 || names[0] != "" || names[1] != "apps" || names[2] != "metrics.k8s.io" {
		t.Errorf("groups: want the core group, apps, metrics.k8s.io in that order, got %q", names)
	}
	var read []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			read = append(read, l.GroupVersion+" "+r.Name)
		}
	}
	if len(read) != 2 || read[0] != "v1 configmaps" || read[1] != "apps/v1 deployments" {
		t.Errorf("resources: want the ones of v1 and apps/v1, got %q", read)
	}
}
