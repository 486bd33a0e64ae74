package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

func crdFiles() ([]string, error) {
	shared, err := SharedDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(shared, "testdata", "crds")
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, fmt.Errorf("list CRDs: %w", err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRD manifests in %s (set %s to the shared folder)", dir, EnvSharedDir)
	}
	return files, nil
}

func readCRDs(files []string) ([]*unstructured.Unstructured, error) {
	var crds []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CRD: %w", err)
		}
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
func (c *ControlPlane) installCRDs(ctx context.Context, files []string, timeout time.Duration) error {
	crds, err := readCRDs(files)
	if err != nil {
		return err
	}
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
