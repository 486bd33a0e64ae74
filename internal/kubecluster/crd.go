package kubecluster

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// CRDResource is the CustomResourceDefinition resource. The testbed handles
// CRDs as unstructured objects so the product module need not depend on
// k8s.io/apiextensions-apiserver.
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdFS holds the SparkApplication CRD the repository carries (see
// crds/SOURCE.md). It is embedded so that the tests, the demo and the
// benchmarks install the same manifest from any working directory, and a
// clone of the repository alone has everything it needs.
//
//go:embed crds/*.yaml
var crdFS embed.FS

// apacheCRDFS holds the Apache Spark Kubernetes Operator's SparkApplication
// CRD (see crds/apache/SOURCE.md). It is installed only on request: most
// tests run the Kubeflow operator alone, and at about 1 MB it is not free.
//
//go:embed crds/apache/*.yaml
var apacheCRDFS embed.FS

// ApacheCRDName is the name of the Apache operator's SparkApplication CRD.
const ApacheCRDName = "sparkapplications.spark.apache.org"

// CRDManifests returns the embedded CRD manifests, by file name.
func CRDManifests() (map[string][]byte, error) {
	files, err := fs.Glob(crdFS, "crds/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("list embedded CRDs: %w", err)
	}
	out := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := crdFS.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read embedded CRD: %w", err)
		}
		out[f] = b
	}
	if len(out) == 0 {
		return nil, errors.New("no CRD manifests embedded in the test bed")
	}
	return out, nil
}

// ApacheCRDManifests returns the embedded Apache operator CRD manifest, by
// file name.
func ApacheCRDManifests() (map[string][]byte, error) {
	const f = "crds/apache/spark.apache.org_sparkapplications.yaml"
	b, err := apacheCRDFS.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("read embedded Apache CRD: %w", err)
	}
	return map[string][]byte{f: b}, nil
}

func readCRDs() ([]*unstructured.Unstructured, error) {
	manifests, err := CRDManifests()
	if err != nil {
		return nil, err
	}
	return decodeCRDs(manifests)
}

func decodeCRDs(manifests map[string][]byte) ([]*unstructured.Unstructured, error) {
	var crds []*unstructured.Unstructured
	for f, data := range manifests {
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("parse %s: %w", f, err)
			}
			if obj == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			if u.GetKind() != "CustomResourceDefinition" {
				return nil, fmt.Errorf("%s: expected CustomResourceDefinition, got %q", f, u.GetKind())
			}
			crds = append(crds, u)
		}
	}
	return crds, nil
}

// installCRDs creates the CRDs and waits until each is Established, i.e. its
// resource is served and the real schema validates what tests create.
func (c *ControlPlane) installCRDs(ctx context.Context, timeout time.Duration) error {
	crds, err := readCRDs()
	if err != nil {
		return err
	}
	return c.createCRDs(ctx, crds, timeout)
}

// InstallApacheCRD creates the Apache Spark Kubernetes Operator's
// SparkApplication CRD (spark.apache.org, v1 and v1beta1) and waits until
// it is Established. It is created, not applied: the manifest is larger
// than the annotation a client-side apply would write.
func (c *ControlPlane) InstallApacheCRD(ctx context.Context, timeout time.Duration) error {
	manifests, err := ApacheCRDManifests()
	if err != nil {
		return err
	}
	crds, err := decodeCRDs(manifests)
	if err != nil {
		return err
	}
	return c.createCRDs(ctx, crds, timeout)
}

func (c *ControlPlane) createCRDs(ctx context.Context, crds []*unstructured.Unstructured, timeout time.Duration) error {
	dyn := c.Dynamic().Resource(CRDResource)
	for _, crd := range crds {
		if _, err := dyn.Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, crd := range crds {
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got, err := dyn.Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // not visible yet: keep polling until the timeout
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.GetName(), err)
		}
	}
	return nil
}
