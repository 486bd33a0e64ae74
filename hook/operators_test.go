package hook

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubetest"
)

// The Apache operator's applications are read in v1, else in v1beta1 (the
// two versions its release 1.0.0 serves, with one status); a cluster
// without its CRD has none; a CRD that serves neither keeps their maps.
func TestApacheApplicationsAreReadInV1ElseV1beta1(t *testing.T) {
	for _, tc := range []struct {
		name    string
		served  []string
		want    string // the version read; "" for none
		unserve bool   // an *UnservedError
	}{
		{"v1 and v1beta1 served: v1", []string{"v1beta1", "v1"}, "v1", false},
		{"only v1beta1 served: v1beta1", []string{"v1beta1"}, "v1beta1", false},
		{"no CRD: nothing to read, no error", nil, "", false},
		{"only a version the tool does not read (v1alpha1, removed in 1.0.0)", []string{"v1alpha1"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := fake.NewClientset()
			for _, v := range tc.served {
				k.Resources = append(k.Resources, &metav1.APIResourceList{GroupVersion: ApacheSparkGroup + "/" + v,
					APIResources: []metav1.APIResource{{Name: "sparkapplications", Kind: "SparkApplication", Namespaced: true}}})
			}
			gvr, ok, err := apacheResource(context.Background(), Clients{Kube: kubetest.FromClientset(k)})
			var unserved *UnservedError
			if errors.As(err, &unserved) != tc.unserve || (err != nil && !tc.unserve) {
				t.Fatalf("err %v, want unserved %v", err, tc.unserve)
			}
			if got := map[bool]string{true: gvr.Version, false: ""}[ok]; got != tc.want {
				t.Fatalf("read version %q, want %q", got, tc.want)
			}
		})
	}
}

// rbac preflight asks for the Apache verbs only where discovery lists its
// group.
func TestGroupServedReadsDiscovery(t *testing.T) {
	k := fake.NewClientset()
	k.Resources = []*metav1.APIResourceList{{GroupVersion: ApacheSparkGroup + "/v1", APIResources: []metav1.APIResource{{Name: "sparkapplications", Kind: "SparkApplication", Namespaced: true}}}}
	d := kubetest.FromClientset(k).Discovery()
	if ok, err := GroupServed(context.Background(), d, ApacheSparkGroup); !ok || err != nil {
		t.Errorf("the Apache group: served %v, %v", ok, err)
	}
	if ok, err := GroupServed(context.Background(), d, "sparkoperator.k8s.io"); ok || err != nil {
		t.Errorf("a group not installed: served %v, %v", ok, err)
	}
	if rules := WhenServedRules(); len(rules) != 1 || rules[0].APIGroups[0] != ApacheSparkGroup {
		t.Errorf("the rules behind the chart's value: %v", rules)
	}
	for _, r := range RoleRules() {
		if r.APIGroups[0] == ApacheSparkGroup {
			t.Errorf("the chart's default Role grants %v", r)
		}
	}
}
