package hook_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// stopServing rewrites the SparkApplication CRD the way an operator
// upgrade does that drops a version: v1beta2 stays stored but is no longer
// served; the same schema is served as version newVersion. It returns once
// the API server answers 404 for v1beta2 and discovery lists newVersion.
func stopServing(t *testing.T, c *kubecluster.ControlPlane, newVersion string) {
	t.Helper()
	ctx := ctxFor(t)
	crds := c.Dynamic().Resource(kubecluster.CRDResource)
	name := store.SparkApplicationGVR.Resource + "." + store.SparkApplicationGVR.Group
	crd, err := crds.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	old := versions[0].(map[string]any)
	served := map[string]any{}
	for k, v := range old {
		served[k] = v
	}
	served["name"], served["served"], served["storage"] = newVersion, true, true
	old["served"], old["storage"] = false, false
	if err := unstructured.SetNestedSlice(crd.Object, []any{old, served}, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
	if _, err := crds.Update(ctx, crd, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update CRD: %v", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := c.Dynamic().Resource(store.SparkApplicationGVR).List(ctx, metav1.ListOptions{})
		if err == nil {
			return false, nil
		}
		groups, derr := c.Clientset().Discovery().ServerGroups()
		if derr != nil {
			return false, nil //nolint:nilerr // keep polling
		}
		for _, g := range groups.Groups {
			if g.Name == store.SparkApplicationGVR.Group && len(g.Versions) == 1 && g.Versions[0].Version == newVersion {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the API server still serves %s: %v", store.SparkApplicationGVR.Version, err)
	}
}

// A CRD upgraded to serve only a version the tool does not read must not
// make every SparkApplication look gone: cleanup and sweep keep the maps of
// the operator's applications, saying which version is served, and judge
// plain spark-submit maps as ever.
func TestMapsOfSparkApplicationsInAVersionTheToolDoesNotReadAreKept(t *testing.T) {
	c := kubecluster.ForTest(t, kubecluster.Options{})
	ns := c.NewNamespace(t)
	ctx := ctxFor(t)
	operatorApp, err := sparkfixture.Create(ctx, c.Clientset(), c.Dynamic(), ns, sparkfixture.Spec{Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sparkfixture.Create(ctx, c.Clientset(), c.Dynamic(), ns, sparkfixture.Spec{NoSparkApplication: true, Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	stopServing(t, c, "v1")
	cl := clientsFor(t, c.AdminConfig(), nil)
	const why = "the API server serves version v1, the tool reads v1beta2"

	for _, o := range []hook.CleanupOptions{
		{SparkApp: operatorApp.Name}, {DriverPod: operatorApp.DriverPod}, {AppID: operatorApp.AppID},
	} {
		o.Namespace, o.NoEvent = ns, true
		res, err := hook.Cleanup(ctx, cl, testLog(t), o)
		if err != nil {
			t.Fatalf("cleanup of %s%s%s: %v", o.SparkApp, o.DriverPod, o.AppID, err)
		}
		if len(res.Deleted) != 0 {
			t.Fatalf("cleanup of %s%s%s deleted %v", o.SparkApp, o.DriverPod, o.AppID, names(res.Deleted))
		}
		if got, want := names(res.Skipped), sorted(operatorApp.MapNames()); !equal(got, want) {
			t.Fatalf("cleanup of %s%s%s kept %v, want %v", o.SparkApp, o.DriverPod, o.AppID, got, want)
		}
		for _, e := range res.Skipped {
			if !strings.Contains(e.Reason, why) {
				t.Fatalf("cleanup kept %s because %q; want it to say %q", e.Name, e.Reason, why)
			}
		}
	}

	res, err := hook.Sweep(ctx, cl, testLog(t), hook.SweepOptions{Namespace: ns})
	if err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if got, want := names(res.Deleted), sorted(plain.MapNames()); !equal(got, want) {
		t.Fatalf("sweep deleted %v, want the plain spark-submit maps %v", got, want)
	}
	left, err := c.Clientset().CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var leftNames []string
	for _, m := range left.Items {
		leftNames = append(leftNames, m.Name)
	}
	for _, n := range operatorApp.MapNames() {
		if !contains(leftNames, n) {
			t.Fatalf("the operator application's map %s was deleted", n)
		}
	}
	for _, e := range res.Skipped {
		if contains(operatorApp.MapNames(), e.Name) && !strings.Contains(e.Reason, why) {
			t.Fatalf("sweep kept %s because %q; want it to say %q", e.Name, e.Reason, why)
		}
	}
}
