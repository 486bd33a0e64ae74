package kubecluster_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// eventually polls cond until it holds; the timeout is generous because the
// garbage collector and RBAC caches work asynchronously, and only a hang, not
// slowness, is a failure here.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mapGone(kube kubernetes.Interface, ns, name string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

func TestGarbageCollectorDeletesMapsOwnedByDeletedDriverPod(t *testing.T) {
	ctx := t.Context()
	ns := cp.NewNamespace(t)
	kube, dyn := cp.Get(t).Clientset(), cp.Get(t).Dynamic()
	app, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{
		PodTemplate: true, Hadoop: true, UserSparkConfigMap: "team-spark-defaults",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Maps) != 4 {
		t.Fatalf("want driver, executor, pod-template and hadoop maps, got %v", app.MapNames())
	}

	bg := metav1.DeletePropagationBackground
	if err := kube.CoreV1().Pods(ns).Delete(ctx, app.DriverPod, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	for _, name := range app.MapNames() {
		eventually(t, "garbage collector deletes "+name, mapGone(kube, ns, name))
	}
	if _, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "team-spark-defaults", metav1.GetOptions{}); err != nil {
		t.Errorf("user-supplied map has no owner and must survive: %v", err)
	}
}

func TestGarbageCollectorCascadesFromSparkApplicationThroughDriverPodToMaps(t *testing.T) {
	ctx := t.Context()
	ns := cp.NewNamespace(t)
	kube, dyn := cp.Get(t).Clientset(), cp.Get(t).Dynamic()
	app, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	// What Airflow's delete_on_termination and the operator's TTL do.
	bg := metav1.DeletePropagationBackground
	if err := dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(ns).Delete(ctx, app.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "driver pod deleted", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().Pods(ns).Get(ctx, app.DriverPod, metav1.GetOptions{})
		return apierrors.IsNotFound(err), client(err)
	})
	for _, name := range app.MapNames() {
		eventually(t, "garbage collector deletes "+name, mapGone(kube, ns, name))
	}
}

// client passes on errors other than NotFound.
func client(err error) error {
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func TestServiceAccountWithoutRoleBindingIsForbiddenToDeleteConfigMap(t *testing.T) {
	ctx := t.Context()
	ns := cp.NewNamespace(t)
	admin := cp.Get(t).Clientset()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "spark-drv-0123456789abcdef-conf-map"}}
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := cp.Get(t).ServiceAccountConfig(ctx, ns, "sparkcm-hook")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BearerToken == "" || cfg.CertData != nil {
		t.Fatalf("want a bearer-token config, got %+v", cfg)
	}
	sa := kubernetes.NewForConfigOrDie(cfg)

	err = sa.CoreV1().ConfigMaps(ns).Delete(ctx, cm.Name, metav1.DeleteOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("delete without a RoleBinding: want 403 Forbidden, got %v", err)
	}

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-cleaner"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"delete"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-cleaner"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "sparkcm-hook", Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The RBAC authorizer reads bindings from an informer, so the grant takes
	// effect a moment later.
	eventually(t, "delete with the RoleBinding", func(ctx context.Context) (bool, error) {
		err := sa.CoreV1().ConfigMaps(ns).Delete(ctx, cm.Name, metav1.DeleteOptions{})
		if apierrors.IsForbidden(err) {
			return false, nil
		}
		return err == nil, err
	})
	if _, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("map still there after the service account deleted it: %v", err)
	}
	// The Role grants delete only: other verbs stay forbidden.
	if _, err := sa.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("list with a delete-only Role: want 403, got %v", err)
	}
}

func TestSparkApplicationCRDIsEstablishedAndStatusIsSetThroughSubresource(t *testing.T) {
	ctx := t.Context()
	ns := cp.NewNamespace(t)
	dyn := cp.Get(t).Dynamic()

	crd, err := dyn.Resource(kubecluster.CRDResource).Get(ctx, "sparkapplications.sparkoperator.k8s.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasCondition(crd, "Established") {
		t.Fatalf("CRD not Established: %v", crd.Object["status"])
	}

	apps := dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(ns)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2",
		"kind":       "SparkApplication",
		"metadata":   map[string]any{"name": "spark-pi"},
		"spec": map[string]any{
			"type": "Scala", "mode": "cluster", "sparkVersion": "3.5.5",
			"mainApplicationFile": "local:///opt/spark/examples/jars/spark-examples.jar",
			"driver":              map[string]any{}, "executor": map[string]any{},
		},
	}}
	created, err := apps.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The real schema rejects what the operator's CRD forbids.
	bad := created.DeepCopy()
	_ = unstructured.SetNestedField(bad.Object, "Cobol", "spec", "type")
	if _, err := apps.Update(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("spec.type=Cobol: want 422 Invalid from the CRD schema, got %v", err)
	}

	// A status written through the main resource is dropped...
	withStatus := created.DeepCopy()
	withStatus.Object["status"] = map[string]any{"applicationState": map[string]any{"state": "COMPLETED"}, "driverInfo": map[string]any{}}
	updated, err := apps.Update(ctx, withStatus, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedString(updated.Object, "status", "applicationState", "state"); found {
		t.Fatalf("status written through the main resource; the CRD must have a status subresource")
	}
	// ...and kept through the status subresource.
	if err := sparkfixture.SetState(ctx, dyn, ns, "spark-pi", sparkfixture.StateCompleted); err != nil {
		t.Fatal(err)
	}
	got, err := apps.Get(ctx, "spark-pi", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if state, _, _ := unstructured.NestedString(got.Object, "status", "applicationState", "state"); state != "COMPLETED" {
		t.Fatalf("state = %q, want COMPLETED", state)
	}
	if tt, _, _ := unstructured.NestedString(got.Object, "status", "terminationTime"); tt == "" {
		t.Fatal("terminal state without terminationTime")
	}
}

func hasCondition(u *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ && m["status"] == "True" {
			return true
		}
	}
	return false
}
