package testbed

import (
	"testing"
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
