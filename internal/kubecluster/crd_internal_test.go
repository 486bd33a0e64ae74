package kubecluster

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The repository carries the SparkApplication CRD itself: a clone with no
// sibling folders must install the real schema.
func TestEmbeddedCRDIsTheSparkApplicationCRD(t *testing.T) {
	crds, err := readCRDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 {
		t.Fatalf("embedded CRDs: got %d, want 1", len(crds))
	}
	if got, want := crds[0].GetName(), "sparkapplications.sparkoperator.k8s.io"; got != want {
		t.Fatalf("embedded CRD is %q, want %q", got, want)
	}
}

// The Apache operator's CRD is carried too, apart from the one every
// control plane installs, with both versions the tool reads.
func TestEmbeddedApacheCRDServesV1AndV1beta1(t *testing.T) {
	manifests, err := ApacheCRDManifests()
	if err != nil {
		t.Fatal(err)
	}
	crds, err := decodeCRDs(manifests)
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != 1 || crds[0].GetName() != ApacheCRDName {
		t.Fatalf("embedded Apache CRDs: got %d, want one named %s", len(crds), ApacheCRDName)
	}
	versions, _, _ := unstructured.NestedSlice(crds[0].Object, "spec", "versions")
	served := map[string]bool{}
	storage := ""
	for _, v := range versions {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		served[name], _ = m["served"].(bool)
		if s, _ := m["storage"].(bool); s {
			storage = name
		}
	}
	if !served["v1"] || !served["v1beta1"] || storage != "v1" {
		t.Fatalf("Apache CRD versions: served %v, storage %q; want v1 and v1beta1 served, v1 storage", served, storage)
	}
}
