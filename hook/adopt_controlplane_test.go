package hook_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func decisions(res *hook.AdoptResult) map[string]hook.AdoptDecision {
	out := map[string]hook.AdoptDecision{}
	for _, m := range res.Maps {
		out[m.Name] = m.Decision
	}
	return out
}

// The proof that matters is the garbage collector's own: two applications
// share a user-supplied map; adopt makes both its owners; deleting the first
// leaves the map, deleting the second removes it. This needs
// kube-controller-manager, which the package's shared control plane does not
// run (nothing deletes behind the other tests' back), so it starts its own.
func TestAdoptedMapGoesWithTheLastApplicationThatReferencesIt(t *testing.T) {
	gc := kubecluster.ForTest(t, kubecluster.Options{ControllerManager: true})
	ctx := ctxFor(t)
	ns := gc.NewNamespace(t)
	kube, dyn := gc.Clientset(), gc.Dynamic()
	c := clientsFor(t, gc.AdminConfig(), nil)
	const shared = "team-spark-defaults"
	first, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{Name: "first", UserSparkConfigMap: shared})
	if err != nil {
		t.Fatal(err)
	}
	second, err := sparkfixture.Create(ctx, kube, dyn, ns, sparkfixture.Spec{Name: "second", UserSparkConfigMap: shared})
	if err != nil {
		t.Fatal(err)
	}

	dry, err := hook.Adopt(ctx, c, testLog(t), hook.AdoptOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if got := decisions(dry)[shared]; got != hook.WouldAdopt {
		t.Fatalf("dry run: want %q for %s, got %q (%+v)", hook.WouldAdopt, shared, got, dry.Maps)
	}
	if m, _ := kube.CoreV1().ConfigMaps(ns).Get(ctx, shared, metav1.GetOptions{}); len(m.OwnerReferences) != 0 {
		t.Fatalf("the dry run wrote owners: %+v", m.OwnerReferences)
	}

	res, err := hook.Adopt(ctx, c, testLog(t), hook.AdoptOptions{Namespace: ns, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := decisions(res)[shared]; got != hook.Adopted {
		t.Fatalf("want %q for %s, got %q (%+v)", hook.Adopted, shared, got, res.Maps)
	}
	m, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, shared, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]metav1.OwnerReference{}
	for _, ref := range m.OwnerReferences {
		owners[string(ref.UID)] = ref
	}
	for _, app := range []*sparkfixture.App{first, second} {
		ref, ok := owners[string(app.SparkAppUID)]
		switch {
		case !ok:
			t.Fatalf("no ownerReference to %s (uid %s): %+v", app.Name, app.SparkAppUID, m.OwnerReferences)
		case ref.Kind != "SparkApplication" || ref.Name != app.Name:
			t.Errorf("ownerReference to %s: %+v", app.Name, ref)
		case ref.Controller == nil || *ref.Controller || ref.BlockOwnerDeletion == nil || *ref.BlockOwnerDeletion:
			t.Errorf("want controller=false, blockOwnerDeletion=false, got %+v", ref)
		}
	}

	again, err := hook.Adopt(ctx, c, testLog(t), hook.AdoptOptions{Namespace: ns, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := decisions(again)[shared]; got != hook.AlreadyAdopted {
		t.Fatalf("second run: want %q, got %q", hook.AlreadyAdopted, got)
	}
	if m2, _ := kube.CoreV1().ConfigMaps(ns).Get(ctx, shared, metav1.GetOptions{}); m2.ResourceVersion != m.ResourceVersion {
		t.Errorf("second run wrote the map again (resourceVersion %s -> %s)", m.ResourceVersion, m2.ResourceVersion)
	}

	apps := dyn.Resource(sparkfixture.SparkApplicationResource).Namespace(ns)
	bg := metav1.DeletePropagationBackground
	if err := apps.Delete(ctx, first.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	// The garbage collector has processed the first deletion once it has
	// removed what only the first owned: its driver Pod.
	gcEventually(t, "the first application's driver Pod is collected", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().Pods(ns).Get(ctx, first.DriverPod, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	})
	gcEventually(t, "the garbage collector drops the first owner from the map", func(ctx context.Context) (bool, error) {
		m, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, shared, metav1.GetOptions{})
		if err != nil {
			return false, err // gone while the second application references it
		}
		return len(m.OwnerReferences) == 1 && m.OwnerReferences[0].UID == second.SparkAppUID, nil
	})

	if err := apps.Delete(ctx, second.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	gcEventually(t, "the map goes with the second application", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, shared, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	})
}

// A map that anything but the SparkApplications referencing it holds is
// never handed to the garbage collector, and the run says why.
func TestAdoptSkipsMapsSomethingElseHolds(t *testing.T) {
	ns := cp.NewNamespace(t)
	_, c := admin(t)
	ctx := ctxFor(t)
	for _, name := range []string{"adoptable", "kept", "helm-owned", "pod-used", "owned-elsewhere"} {
		newApp(t, ns, sparkfixture.Spec{Name: "app-" + name, UserSparkConfigMap: name})
	}
	// A running application's own Pods use its map: that is no outsider.
	newApp(t, ns, sparkfixture.Spec{Name: "app-running", State: "RUNNING", Executors: 1, UserSparkConfigMap: "used-by-its-app"})
	// An application that names a map only among its volumes.
	newApp(t, ns, sparkfixture.Spec{Name: "app-vol"})
	createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-volume"}})
	volumes := []byte(`{"spec":{"volumes":[{"name":"extra","configMap":{"name":"by-volume"}}]}}`)
	if _, err := c.Dynamic.Resource(store.SparkApplicationGVR).Namespace(ns).Patch(ctx, "app-vol", types.MergePatchType, volumes, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	setMeta := func(name string, edit func(*metav1.ObjectMeta)) {
		kube, _ := admin(t)
		m, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		edit(&m.ObjectMeta)
		if _, err := kube.CoreV1().ConfigMaps(ns).Update(ctx, m, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setMeta("kept", func(m *metav1.ObjectMeta) { m.Annotations = map[string]string{rule.AnnotationKeep: "true"} })
	setMeta("helm-owned", func(m *metav1.ObjectMeta) { m.Labels = map[string]string{"app.kubernetes.io/managed-by": "Helm"} })
	other := createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "some-owner"}})
	setMeta("owned-elsewhere", func(m *metav1.ObjectMeta) {
		m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: other.Name, UID: other.UID}}
	})
	createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{cmVolume("pod-used")}}}, corev1.PodRunning)

	res, err := hook.Adopt(ctx, c, testLog(t), hook.AdoptOptions{Namespace: ns, Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		decision hook.AdoptDecision
		reason   string
	}{
		"adoptable":       {hook.Adopted, ""},
		"used-by-its-app": {hook.Adopted, ""},
		"by-volume":       {hook.Adopted, ""},
		"kept":            {hook.AdoptSkipped, `sparkcm-hook/keep: "true"`},
		"helm-owned":      {hook.AdoptSkipped, `managed by Helm (app.kubernetes.io/managed-by): its manager, not the garbage collector, decides when it goes`},
		"owned-elsewhere": {hook.AdoptSkipped, "has another owner (ConfigMap some-owner)"},
		"pod-used":        {hook.AdoptSkipped, "used by Pod web outside the applications that reference it"},
	}
	got := map[string]hook.Adoption{}
	for _, m := range res.Maps {
		got[m.Name] = m
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not considered (%+v)", name, res.Maps)
			continue
		}
		if g.Decision != w.decision || g.Reason != w.reason {
			t.Errorf("%s: want %q %q, got %q %q", name, w.decision, w.reason, g.Decision, g.Reason)
		}
		kube, _ := admin(t)
		m, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		adopted := false
		for _, ref := range m.OwnerReferences {
			adopted = adopted || ref.Kind == "SparkApplication"
		}
		if adopted != (w.decision == hook.Adopted) {
			t.Errorf("%s: SparkApplication owner written = %v, want %v", name, adopted, w.decision == hook.Adopted)
		}
	}
}

func gcEventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// What was judged is what is changed: a map edited between adopt's read and
// its write is refused by the API server (the patch carries the
// resourceVersion read), reported as failed, and left as the editor left it.
func TestAdoptWritesOnlyTheMapItJudged(t *testing.T) {
	ns := cp.NewNamespace(t)
	kube, _ := admin(t)
	ctx := ctxFor(t)
	newApp(t, ns, sparkfixture.Spec{Name: "etl", UserSparkConfigMap: "defaults"})
	var edited atomic.Bool
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch && edited.CompareAndSwap(false, true) {
				m, err := kube.CoreV1().ConfigMaps(ns).Get(r.Context(), "defaults", metav1.GetOptions{})
				if err != nil {
					return nil, err
				}
				m.Data = map[string]string{"spark-defaults.conf": "spark.executor.memory 8g"}
				if _, err := kube.CoreV1().ConfigMaps(ns).Update(r.Context(), m, metav1.UpdateOptions{}); err != nil {
					return nil, err
				}
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := hook.Adopt(ctx, c, testLog(t), hook.AdoptOptions{Namespace: ns, Apply: true})
	var partial *hook.PartialFailureError
	if !errors.As(err, &partial) {
		t.Fatalf("want a PartialFailureError, got %v", err)
	}
	if len(res.Maps) != 1 || res.Maps[0].Decision != hook.AdoptFailed || res.Maps[0].Reason != "changed since it was read; run again" {
		t.Fatalf("want the map failed as changed, got %+v", res.Maps)
	}
	m, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "defaults", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.OwnerReferences) != 0 {
		t.Errorf("owners written over a map that changed after it was judged: %+v", m.OwnerReferences)
	}
}
