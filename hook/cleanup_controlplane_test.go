package hook_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func cleanup(t *testing.T, c hook.Clients, o hook.CleanupOptions) (*hook.Result, error) {
	t.Helper()
	return hook.Cleanup(ctxFor(t), c, testLog(t), o)
}

// neighbours puts what must survive every cleanup in the namespace: another
// finished application, an unrelated map, and a map that only looks like
// Spark's.
func neighbours(t *testing.T, ns string) *sparkfixture.App {
	other := newApp(t, ns, sparkfixture.Spec{Name: "other-app", PodTemplate: true})
	createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "airflow-settings"}})
	createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "spark-exec-0123456789abcdef-conf-map"}})
	return other
}

func TestCleanupDeletesEveryGeneratedMapOfAFinishedApplicationAndNothingElse(t *testing.T) {
	for _, target := range []string{"spark-app", "driver-pod", "app-id"} {
		for _, state := range []string{sparkfixture.StateCompleted, sparkfixture.StateFailed} {
			t.Run(target+"/"+state, func(t *testing.T) {
				ns := cp.NewNamespace(t)
				other := neighbours(t, ns)
				app := newApp(t, ns, sparkfixture.Spec{State: state, PodTemplate: true, Hadoop: true, Krb5: true, Executors: 2})
				before := mapNames(t, ns)
				o := hook.CleanupOptions{Namespace: ns}
				switch target {
				case "spark-app":
					o.SparkApp = app.Name
				case "driver-pod":
					o.DriverPod = app.DriverPod
				case "app-id":
					o.AppID = app.AppID
				}
				_, c := admin(t)
				res, err := cleanup(t, c, o)
				if err != nil {
					t.Fatalf("cleanup: %v", err)
				}
				if got, want := names(res.Deleted), sorted(app.MapNames()); !equal(got, want) {
					t.Fatalf("deleted %v, want exactly %v", got, want)
				}
				if got, want := mapNames(t, ns), without(before, app.MapNames()...); !equal(got, want) {
					t.Fatalf("left %v, want %v", got, want)
				}
				if len(res.AppIDs) != 1 || res.AppIDs[0] != app.AppID {
					t.Errorf("resolved app ids %v, want [%s]", res.AppIDs, app.AppID)
				}
				for _, n := range other.MapNames() {
					if !contains(mapNames(t, ns), n) {
						t.Errorf("another application's map %s was deleted", n)
					}
				}
				// Idempotent: a second run finds nothing more and succeeds.
				again, err := cleanup(t, c, o)
				if err != nil || len(again.Deleted) != 0 {
					t.Fatalf("second run: err %v, deleted %v", err, names(again.Deleted))
				}
			})
		}
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func TestCleanupFindsMapsByOwnerNameWhenTheDriverPodIsAlreadyDeleted(t *testing.T) {
	ns := cp.NewNamespace(t)
	neighbours(t, ns)
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true, Hadoop: true})
	// Airflow hands over the driver Pod's name; by then the Pod (and here
	// the SparkApplication too) may be gone while the garbage collector has
	// not reached the maps.
	deletePod(t, ns, app.DriverPod)
	_, c := admin(t)
	if err := c.Dynamic.Resource(store.SparkApplicationGVR).Namespace(ns).Delete(ctxFor(t), app.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := mapNames(t, ns)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: app.DriverPod})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), sorted(app.MapNames()); !equal(got, want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	if got, want := mapNames(t, ns), without(before, app.MapNames()...); !equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
}

func TestCleanupOfLegacySparkDeletesOwnerlessExecutorMapAndPre31DriverMap(t *testing.T) {
	ns := cp.NewNamespace(t)
	neighbours(t, ns)
	legacy := newApp(t, ns, sparkfixture.Spec{LegacyExecutorOwner: true})
	pre31 := newApp(t, ns, sparkfixture.Spec{Pre31: true})
	_, c := admin(t)
	for _, app := range []*sparkfixture.App{legacy, pre31} {
		res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := names(res.Deleted), sorted(app.MapNames()); !equal(got, want) {
			t.Fatalf("%s: deleted %v, want %v (skipped %+v)", app.Name, got, want, res.Skipped)
		}
	}
}

func TestCleanupOfAnOwnerlessExecutorMapByAppIDAfterEverythingElseIsGone(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{LegacyExecutorOwner: true, NoSparkApplication: true})
	deletePod(t, ns, app.DriverPod)
	_, c := admin(t)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, AppID: app.AppID})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, []string{app.ExecutorConfMap}) {
		t.Fatalf("deleted %v, want only the labelled executor map %s", got, app.ExecutorConfMap)
	}
}

func skipReasons(res *hook.Result) map[string]string {
	reasons := map[string]string{}
	for _, e := range res.Skipped {
		reasons[e.Name] = e.Reason
	}
	return reasons
}

func TestCleanupNeverDeletesUserSuppliedMapsTheDriverMounts(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{UserSparkConfigMap: "team-spark-defaults", UserHadoopConfigMap: "team-hadoop", Hadoop: true})
	_, c := admin(t)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
	if err != nil {
		t.Fatal(err)
	}
	reasons := skipReasons(res)
	for name, want := range map[string]string{
		"team-spark-defaults": "user-supplied (spec.sparkConfigMap)",
		"team-hadoop":         "user-supplied (spec.hadoopConfigMap)",
	} {
		if !contains(mapNames(t, ns), name) {
			t.Errorf("%s was deleted", name)
		}
		if !strings.Contains(reasons[name], want) {
			t.Errorf("%s skipped with reason %q, want %q", name, reasons[name], want)
		}
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

func TestCleanupNeverDeletesKeptCoOwnedUnnamedOrForeignLabelledMaps(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	_, c := admin(t)
	driverRef := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: app.DriverPod, UID: app.DriverUID}
	// A map Spark made, that someone marked to keep.
	kept := createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: app.ResourcePrefix + "-krb5-file",
		Annotations: map[string]string{rule.AnnotationKeep: "true"}, OwnerReferences: []metav1.OwnerReference{driverRef}}})
	// A Spark-named map that also has another owner.
	coOwned := createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "spark-drv-00000000000000aa-conf-map",
		OwnerReferences: []metav1.OwnerReference{driverRef, {APIVersion: "apps/v1", Kind: "Deployment", Name: "keeper", UID: types.UID("11111111-2222-3333-4444-555555555555")}}}})
	// A map owned by the driver but not named as Spark names anything.
	unnamed := createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "notebook-settings", OwnerReferences: []metav1.OwnerReference{driverRef}}})
	// A map labelled with the application id that Spark could not have made.
	labelled := createMap(t, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dashboard",
		Labels: map[string]string{rule.LabelAppSelector: app.AppID, rule.LabelRole: rule.RoleExecutor}}})
	// With the driver Pod gone every map that names it as owner is a
	// candidate, so each of these reaches the judge.
	deletePod(t, ns, app.DriverPod)

	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: app.DriverPod})
	if err != nil {
		t.Fatal(err)
	}
	reasons := skipReasons(res)
	for name, want := range map[string]string{
		kept.Name:     `sparkcm-hook/keep: "true"`,
		coOwned.Name:  "has another owner (Deployment keeper)",
		unnamed.Name:  "not a name Spark generates",
		labelled.Name: "not a name Spark generates",
	} {
		if !contains(mapNames(t, ns), name) {
			t.Errorf("%s was deleted", name)
		}
		if !strings.Contains(reasons[name], want) {
			t.Errorf("%s skipped with reason %q, want %q", name, reasons[name], want)
		}
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

func TestCleanupKeepsMapsUsedByNonTerminatedPodsThroughEveryReferenceKind(t *testing.T) {
	type refCase struct {
		name  string
		phase corev1.PodPhase
		pod   func(cm string) *corev1.Pod
	}
	podNamed := func(n string, spec corev1.PodSpec) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n}, Spec: spec}
	}
	cases := []refCase{
		{"volume, running pod", corev1.PodRunning, func(cm string) *corev1.Pod {
			return podNamed("reader", corev1.PodSpec{Volumes: []corev1.Volume{cmVolume(cm)}})
		}},
		{"projected volume, running pod", corev1.PodRunning, func(cm string) *corev1.Pod {
			return podNamed("reader", corev1.PodSpec{Volumes: []corev1.Volume{{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}}}}}})
		}},
		{"envFrom only, pending pod", corev1.PodPending, func(cm string) *corev1.Pod {
			return podNamed("reader", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}}}})
		}},
		{"env valueFrom in an init container, pending pod", corev1.PodPending, func(cm string) *corev1.Pod {
			return podNamed("reader", corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i", Image: "busybox",
				Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: "k"}}}}}}})
		}},
		{"unknown phase", corev1.PodUnknown, func(cm string) *corev1.Pod {
			return podNamed("reader", corev1.PodSpec{Volumes: []corev1.Volume{cmVolume(cm)}})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := cp.NewNamespace(t)
			app := newApp(t, ns, sparkfixture.Spec{})
			createPod(t, ns, tc.pod(app.DriverConfMap), tc.phase)
			_, c := admin(t)
			res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, DriverPod: app.DriverPod})
			if err != nil {
				t.Fatal(err)
			}
			if !contains(mapNames(t, ns), app.DriverConfMap) {
				t.Fatalf("%s was deleted although a %s Pod uses it", app.DriverConfMap, tc.phase)
			}
			if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "in use by Pod reader") {
				t.Fatalf("skipped %+v, want the driver map skipped as in use by reader", res.Skipped)
			}
			if got := names(res.Deleted); !equal(got, []string{app.ExecutorConfMap}) {
				t.Fatalf("deleted %v, want only the executor map", got)
			}
		})
	}
}

func TestCleanupKeepsAMapUsedThroughAnEphemeralContainer(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kube, c := admin(t)
	createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debugged"}}, corev1.PodRunning)
	pod, err := kube.CoreV1().Pods(ns).Get(ctxFor(t), "debugged", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox",
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: app.ExecutorConfMap}}}}}}}
	if _, err = kube.CoreV1().Pods(ns).UpdateEphemeralContainers(ctxFor(t), pod.Name, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name}); err != nil {
		t.Fatal(err)
	}
	if !contains(mapNames(t, ns), app.ExecutorConfMap) {
		t.Fatal("the executor map used by an ephemeral container was deleted")
	}
}

func TestCleanupIgnoresFinishedPodsThatStillReferenceTheMap(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{Executors: 2})
	for i, phase := range []corev1.PodPhase{corev1.PodSucceeded, corev1.PodFailed} {
		createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "done-" + string(rune('a'+i))}, Spec: corev1.PodSpec{Volumes: []corev1.Volume{cmVolume(app.DriverConfMap)}}}, phase)
	}
	_, c := admin(t)
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v: finished Pods do not use maps", got, app.MapNames())
	}
}

func TestCleanupOfARunningApplicationDeletesNothingAndSaysSo(t *testing.T) {
	for _, spec := range []sparkfixture.Spec{
		{State: sparkfixture.StateRunning},
		{State: sparkfixture.StateSubmitted, DriverPhase: corev1.PodPending},
		{State: sparkfixture.StateCompleted, DriverPhase: corev1.PodRunning},
		{State: sparkfixture.StateRunning, NoSparkApplication: true},
	} {
		t.Run(spec.State+"/"+string(spec.DriverPhase), func(t *testing.T) {
			ns := cp.NewNamespace(t)
			app := newApp(t, ns, spec)
			before := mapUIDs(t, ns)
			_, c := admin(t)
			for _, o := range []hook.CleanupOptions{{DriverPod: app.DriverPod}, {AppID: app.AppID}} {
				o.Namespace = ns
				res, err := cleanup(t, c, o)
				if running := (*hook.StillRunningError)(nil); !errors.As(err, &running) {
					t.Fatalf("got %v, want *hook.StillRunningError", err)
				}
				if len(res.Deleted) != 0 {
					t.Fatalf("deleted %v while running", names(res.Deleted))
				}
			}
			if after := mapUIDs(t, ns); len(after) != len(before) {
				t.Fatalf("maps changed: %v -> %v", before, after)
			}
		})
	}
}

func TestCleanupWaitsByWatchingForARunningApplicationToFinish(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	kube, c := admin(t)
	go func() {
		time.Sleep(2 * time.Second)
		_ = sparkfixture.SetPodPhase(context.Background(), kube, ns, app.DriverPod, corev1.PodSucceeded)
		time.Sleep(time.Second)
		_ = sparkfixture.SetState(context.Background(), c.Dynamic, ns, app.Name, sparkfixture.StateCompleted)
	}()
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name, Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

func TestCleanupWaitGivesUpWithStillRunning(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	_, c := admin(t)
	_, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name, Wait: 2 * time.Second})
	if running := (*hook.StillRunningError)(nil); !errors.As(err, &running) {
		t.Fatalf("got %v, want *hook.StillRunningError", err)
	}
	if len(mapNames(t, ns)) != len(app.MapNames()) {
		t.Fatal("maps were deleted")
	}
}

func TestCleanupNeverDeletesAMapRecreatedUnderTheSameNameBetweenDiscoveryAndDelete(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kube, _ := admin(t)
	var swapped atomic.Bool
	var newUID types.UID
	// Just before the tool's first DELETE of the driver map leaves, replace
	// the map with a new one under the same name.
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete && strings.HasSuffix(r.URL.Path, "/configmaps/"+app.DriverConfMap) && swapped.CompareAndSwap(false, true) {
				ctx := context.Background()
				if err := kube.CoreV1().ConfigMaps(ns).Delete(ctx, app.DriverConfMap, metav1.DeleteOptions{}); err != nil {
					t.Errorf("swap: %v", err)
				}
				m, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: app.DriverConfMap}, Data: map[string]string{"new": "map"}}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("swap: %v", err)
				} else {
					newUID = m.UID
				}
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
	if err != nil {
		t.Fatal(err)
	}
	if !swapped.Load() {
		t.Fatal("the tool never tried to delete the driver map")
	}
	got, err := kube.CoreV1().ConfigMaps(ns).Get(ctxFor(t), app.DriverConfMap, metav1.GetOptions{})
	if err != nil || got.UID != newUID {
		t.Fatalf("the recreated map is gone or changed: %v", err)
	}
	var reason string
	for _, e := range res.Skipped {
		if e.Name == app.DriverConfMap {
			reason = e.Reason
		}
	}
	if !strings.Contains(reason, "precondition failed") {
		t.Fatalf("recreated map reported as %q, want skipped for the failed precondition", reason)
	}
}

func TestCleanupRecordsASummaryEventOnTheSparkApplication(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kube, c := admin(t)
	if _, err := cleanup(t, c, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name}); err != nil {
		t.Fatal(err)
	}
	evs, err := kube.CoreV1().Events(ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "SparkApplication" && e.InvolvedObject.Name == app.Name && e.Reason == "SparkConfigMapsCleaned" && strings.Contains(e.Message, "deleted 2") {
			return
		}
	}
	t.Fatalf("no summary event on SparkApplication %s among %d events", app.Name, len(evs.Items))
}

// cleanupRole is exactly the access docs/security.md lists for cleanup.
func cleanupRole(ns string) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "sparkcm-hook", Namespace: ns}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"sparkoperator.k8s.io"}, Resources: []string{"sparkapplications"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
	}}
}

func TestCleanupWorksUnderTheDocumentedRoleAndExitsForbiddenWithoutDelete(t *testing.T) {
	ns := cp.NewNamespace(t)
	kube, _ := admin(t)
	ctx := ctxFor(t)
	sa := serviceAccount(t, ns, "janitor")
	role := cleanupRole(ns)
	// First without delete: everything resolves, the delete is refused.
	role.Rules[0].Verbs = []string{"get", "list"}
	bindRole(t, role, ns, "janitor")
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	before := mapUIDs(t, ns)
	_, err := cleanup(t, sa, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
	if forbidden := (*hook.ForbiddenError)(nil); !errors.As(err, &forbidden) {
		t.Fatalf("got %v, want *hook.ForbiddenError", err)
	}
	for _, want := range []string{"system:serviceaccount:" + ns + ":janitor", "delete", "configmaps", ns} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("forbidden message %q lacks %q", err, want)
		}
	}
	if after := mapUIDs(t, ns); len(after) != len(before) {
		t.Fatalf("maps changed without delete permission: %v -> %v", before, after)
	}
	// Then with exactly the documented role.
	if _, err := kube.RbacV1().Roles(ns).Update(ctx, cleanupRole(ns), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var res *hook.Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		// RBAC changes reach the authorizer through a watch; allow it a moment.
		res, err = cleanup(t, sa, hook.CleanupOptions{Namespace: ns, SparkApp: app.Name})
		if forbidden := (*hook.ForbiddenError)(nil); !errors.As(err, &forbidden) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("cleanup under the documented role: %v", err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}
