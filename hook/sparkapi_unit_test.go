package hook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/retrytest"
)

func TestObjectNotFoundTellsAMissingObjectFromAMissingResource(t *testing.T) {
	gr := schema.GroupResource{Group: store.SparkApplicationGVR.Group, Resource: store.SparkApplicationGVR.Resource}
	for _, tc := range []struct {
		name   string
		err    error
		object string
		want   bool
	}{
		{"the object named is not there", apierrors.NewNotFound(gr, "etl"), "etl", true},
		{"another object's NotFound", apierrors.NewNotFound(gr, "other"), "etl", false},
		{"the resource is not served (a Status that names no object)", apierrors.NewNotFound(schema.GroupResource{}, ""), "etl", false},
		{"a bare 404 without a Status (the API server's answer for a version it does not serve)", notServed(), "etl", false},
		{"a bare 404 naming the object (a proxy's page)", apierrors.NewGenericServerResponse(404, "get", gr, "etl", "404 page not found", 0, true), "etl", false},
		{"a list never misses an object", apierrors.NewNotFound(gr, ""), "", false},
		{"not a 404", apierrors.NewInternalError(errors.New("boom")), "etl", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := objectNotFound(tc.err, tc.object); got != tc.want {
				t.Fatalf("objectNotFound = %v, want %v", got, tc.want)
			}
		})
	}
}

// notServed is what client-go makes of the API server's answer to a group
// or version it does not serve: a bare "404 page not found", no Status.
func notServed() error {
	return apierrors.NewGenericServerResponse(404, "get", schema.GroupResource{Group: store.SparkApplicationGVR.Group, Resource: store.SparkApplicationGVR.Resource}, "", "404 page not found", 0, true)
}

// withSparkAPI makes every read of SparkApplications answer what the API
// server answers for a version its CRD does not serve, and discovery list
// the group in served (none: no CRD at all).
func (w *fakeWorld) withSparkAPI(answer error, served ...string) {
	var lists []*metav1.APIResourceList
	for _, v := range served {
		lists = append(lists, &metav1.APIResourceList{GroupVersion: store.SparkApplicationGVR.Group + "/" + v,
			APIResources: []metav1.APIResource{{Name: store.SparkApplicationGVR.Resource, Kind: "SparkApplication", Namespaced: true}}})
	}
	w.kube.Resources = lists
	dyn := w.clients.Dynamic.(*dynamicfake.FakeDynamicClient)
	dyn.PrependReactor("*", "sparkapplications", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, answer
	})
}

func TestSparkApplicationsInAVersionTheToolDoesNotReadKeepTheirMaps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		served  []string
		deleted int
		reason  string // every skipped map's reason holds it
	}{
		{"CRD serves only v1: kept, naming the served version", []string{"v1"}, 0, "serves version v1, the tool reads v1beta2"},
		{"CRD serves v1 and v1alpha1", []string{"v1", "v1alpha1"}, 0, "serves version v1, v1alpha1"},
		{"a 404 for a version discovery lists as served: kept", []string{"v1beta2"}, 0, "which discovery lists as served (v1beta2)"},
		{"no CRD at all: no applications, judged as before", nil, 2, ""},
	} {
		for _, cmd := range []string{"cleanup --spark-app", "cleanup --driver-pod", "cleanup --app-id", "sweep"} {
			for answer, err404 := range map[string]error{"bare 404": notServed(), "Status naming no object": apierrors.NewNotFound(schema.GroupResource{}, "")} {
				t.Run(tc.name+"/"+cmd+"/"+answer, func(t *testing.T) {
					w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
					w.withSparkAPI(err404, tc.served...)
					var res *Result
					var err error
					switch cmd {
					case "cleanup --spark-app":
						res, err = w.cleanup(t, CleanupOptions{SparkApp: "etl"})
					case "cleanup --driver-pod":
						res, err = w.cleanup(t, CleanupOptions{DriverPod: "etl-driver"})
					case "cleanup --app-id":
						res, err = w.cleanup(t, CleanupOptions{AppID: fakeAppID})
					case "sweep":
						o := SweepOptions{Namespace: fakeNS, Retry: retrytest.NewFakeTime().Apply(RetryPolicy{Budget: 30 * time.Second})}
						res, err = Sweep(context.Background(), w.clients, memLogger, o)
					}
					if err != nil {
						t.Fatalf("%v", err)
					}
					if got := int(w.deletes.Load()); got != tc.deleted {
						t.Fatalf("%d deletes, want %d; skipped: %s", got, tc.deleted, reasons(res.Skipped))
					}
					for _, e := range res.Skipped {
						if !strings.Contains(e.Reason, tc.reason) {
							t.Fatalf("%s kept because %q, want it to say %q", e.Name, e.Reason, tc.reason)
						}
					}
				})
			}
		}
	}
}

func reasons(entries []Entry) string {
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s: %s", e.Name, e.Reason))
	}
	return strings.Join(out, "; ")
}

func TestSweepOfAllNamespacesNeverTouchesAnExcludedOne(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exclude []string
		deleted int
	}{
		{"nothing excluded", nil, 2},
		{"another namespace excluded", []string{"prod"}, 2},
		// The fakes ignore the field selector that keeps the namespace out
		// of the list on a real server: the guard behind it is what holds.
		{"the maps' namespace excluded", []string{"prod", fakeNS}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
			o := SweepOptions{AllNamespaces: true, ExcludeNamespaces: tc.exclude, Retry: retrytest.NewFakeTime().Apply(RetryPolicy{Budget: 30 * time.Second})}
			res, err := Sweep(context.Background(), w.clients, memLogger, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(w.deletes.Load()); got != tc.deleted {
				t.Fatalf("%d deletes, want %d", got, tc.deleted)
			}
			for _, l := range [][]Entry{res.Deleted, res.Skipped, res.Failed} {
				for _, e := range l {
					if slices.Contains(tc.exclude, e.Namespace) {
						t.Fatalf("%s/%s of an excluded namespace was judged: %s", e.Namespace, e.Name, e.Reason)
					}
				}
			}
		})
	}
}

func TestSweepScopeOptionsAreRefusedWhenTheyContradict(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    SweepOptions
		want string
	}{
		{"one namespace and several", SweepOptions{Namespace: "a", Namespaces: []string{"b"}}, "not both"},
		{"several namespaces and all", SweepOptions{AllNamespaces: true, Namespaces: []string{"a", "b"}}, "not both"},
		{"an exclusion without all namespaces", SweepOptions{Namespace: "a", ExcludeNamespaces: []string{"b"}}, "all namespaces"},
		{"an invalid exclusion", SweepOptions{AllNamespaces: true, ExcludeNamespaces: []string{"Bad_NS"}}, "Bad_NS"},
		{"an invalid namespace of several", SweepOptions{Namespaces: []string{"a", "Bad_NS"}}, "Bad_NS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ue *UsageError
			if err := tc.o.Validate(); !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate = %v, want a *UsageError naming %q", err, tc.want)
			}
		})
	}
}

// Where the caller may not list cluster-wide, sweep -A goes namespace by
// namespace: an excluded one is not even listed.
func TestSweepNamespaceByNamespaceSkipsAnExcludedOne(t *testing.T) {
	for _, tc := range []struct {
		name    string
		exclude []string
		deleted int
	}{
		{"nothing excluded", nil, 2},
		{"the maps' namespace excluded", []string{fakeNS}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
			for _, ns := range []string{fakeNS, "prod"} {
				obj := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns}}
				if err := w.md.Tracker().Add(obj); err != nil {
					t.Fatal(err)
				}
			}
			w.md.PrependReactor("list", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.GetNamespace() == "" {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "", errors.New("no cluster-wide list"))
				}
				return false, nil, nil
			})
			o := SweepOptions{AllNamespaces: true, ExcludeNamespaces: tc.exclude, Retry: retrytest.NewFakeTime().Apply(RetryPolicy{Budget: 30 * time.Second})}
			if _, err := Sweep(context.Background(), w.clients, memLogger, o); err != nil {
				t.Fatal(err)
			}
			if got := int(w.deletes.Load()); got != tc.deleted {
				t.Fatalf("%d deletes, want %d", got, tc.deleted)
			}
			for _, a := range w.md.Actions() {
				if a.GetVerb() == "list" && slices.Contains(tc.exclude, a.GetNamespace()) {
					t.Fatalf("listed %s in the excluded namespace %s", a.GetResource().Resource, a.GetNamespace())
				}
			}
		})
	}
}

// The CRD stops serving the version between the sweep's read of the
// applications and the re-check before the batch: the re-check's 404 must
// not read as "the application is gone".
func TestSweepRecheckKeepsMapsWhenTheApplicationsStopBeingServed(t *testing.T) {
	w := newFakeWorld(t, "COMPLETED", corev1.PodSucceeded)
	w.kube.Resources = []*metav1.APIResourceList{{GroupVersion: store.SparkApplicationGVR.Group + "/v1",
		APIResources: []metav1.APIResource{{Name: store.SparkApplicationGVR.Resource, Kind: "SparkApplication", Namespaced: true}}}}
	dyn := w.clients.Dynamic.(*dynamicfake.FakeDynamicClient)
	dyn.PrependReactor("get", "sparkapplications", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, notServed()
	})
	// The API server ends the watches of a version it stops serving; the
	// re-check then reads each application again.
	dyn.PrependWatchReactor("sparkapplications", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, notServed()
	})
	o := SweepOptions{Namespace: fakeNS, Retry: retrytest.NewFakeTime().Apply(RetryPolicy{Budget: 30 * time.Second})}
	res, err := Sweep(context.Background(), w.clients, memLogger, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(w.deletes.Load()); got != 0 {
		t.Fatalf("%d deletes after the applications stopped being served", got)
	}
	const why = "its SparkApplication's state cannot be known: sparkapplications.sparkoperator.k8s.io cannot be read: the API server serves version v1"
	if len(res.Skipped) != 2 {
		t.Fatalf("skipped %s, want both maps", reasons(res.Skipped))
	}
	for _, e := range res.Skipped {
		if !strings.HasPrefix(e.Reason, why) {
			t.Fatalf("%s kept because %q, want %q", e.Name, e.Reason, why)
		}
	}
}
