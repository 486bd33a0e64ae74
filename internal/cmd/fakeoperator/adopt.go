package main

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// sparkfixture.Create makes a whole application, SparkApplication included.
// Here Airflow has already created the SparkApplication, so these two client
// decorators let the fixture adopt it: creating a SparkApplication of that name
// returns the existing one (its UID becomes the driver Pod's owner), and Pods
// get the labels the operator copies from spec.driver.labels /
// spec.executor.labels. Every other call goes through unchanged.

type adoptingDynamic struct {
	dynamic.Interface
	existing *unstructured.Unstructured
}

func (d *adoptingDynamic) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	inner := d.Interface.Resource(gvr)
	if gvr != sparkfixture.SparkApplicationResource {
		return inner
	}
	return &adoptingResource{NamespaceableResourceInterface: inner, existing: d.existing}
}

type adoptingResource struct {
	dynamic.NamespaceableResourceInterface
	existing *unstructured.Unstructured
}

func (r *adoptingResource) Namespace(ns string) dynamic.ResourceInterface {
	inner := r.NamespaceableResourceInterface.Namespace(ns)
	if ns != r.existing.GetNamespace() {
		return inner
	}
	return &adoptingNamespaced{ResourceInterface: inner, existing: r.existing}
}

type adoptingNamespaced struct {
	dynamic.ResourceInterface
	existing *unstructured.Unstructured
}

func (n *adoptingNamespaced) Create(ctx context.Context, obj *unstructured.Unstructured, opts metav1.CreateOptions, subresources ...string) (*unstructured.Unstructured, error) {
	if len(subresources) == 0 && obj.GetName() == n.existing.GetName() {
		return n.existing.DeepCopy(), nil
	}
	return n.ResourceInterface.Create(ctx, obj, opts, subresources...)
}

type labellingKube struct {
	kubernetes.Interface
	driver, executor map[string]string
}

func (k *labellingKube) CoreV1() typedcorev1.CoreV1Interface {
	return &labellingCore{CoreV1Interface: k.Interface.CoreV1(), k: k}
}

type labellingCore struct {
	typedcorev1.CoreV1Interface
	k *labellingKube
}

func (c *labellingCore) Pods(ns string) typedcorev1.PodInterface {
	return &labellingPods{PodInterface: c.CoreV1Interface.Pods(ns), k: c.k}
}

type labellingPods struct {
	typedcorev1.PodInterface
	k *labellingKube
}

func (p *labellingPods) Create(ctx context.Context, pod *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error) {
	extra := p.k.executor
	if pod.Labels[sparkfixture.LabelRole] == sparkfixture.RoleDriver {
		extra = p.k.driver
	}
	if len(extra) > 0 {
		pod = pod.DeepCopy()
		labels := maps.Clone(extra)
		maps.Copy(labels, pod.Labels) // Spark's and the operator's own labels win, as in the operator
		pod.Labels = labels
	}
	return p.PodInterface.Create(ctx, pod, opts)
}
