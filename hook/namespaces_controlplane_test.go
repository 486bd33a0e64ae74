package hook_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func TestSweepAllNamespacesNeverListsJudgesOrDeletesInAnExcludedOne(t *testing.T) {
	swept, excluded := cp.NewNamespace(t), cp.NewNamespace(t)
	appSwept := newApp(t, swept, sparkfixture.Spec{})
	appExcluded := newApp(t, excluded, sparkfixture.Spec{})
	var (
		mu   sync.Mutex
		gets []string
	)
	c := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") {
				mu.Lock()
				gets = append(gets, r.URL.Path+"?"+r.URL.Query().Get("fieldSelector"))
				mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	res, err := sweep(t, c, hook.SweepOptions{AllNamespaces: true, ExcludeNamespaces: []string{excluded}})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range [][]hook.Entry{res.Deleted, res.Skipped, res.Failed} {
		for _, e := range l {
			if e.Namespace == excluded {
				t.Fatalf("%s/%s of the excluded namespace was judged (%s): %s", e.Namespace, e.Name, e.Decision, e.Reason)
			}
		}
	}
	if got, want := mapNames(t, excluded), sorted(appExcluded.MapNames()); !equal(got, want) {
		t.Fatalf("excluded namespace holds %v, want %v untouched", got, want)
	}
	if left := mapNames(t, swept); len(left) != 0 {
		t.Fatalf("the swept namespace still holds %v (of %v)", left, appSwept.MapNames())
	}
	mu.Lock()
	defer mu.Unlock()
	want := "/api/v1/configmaps?metadata.namespace!=" + excluded
	found := false
	for _, g := range gets {
		found = found || g == want
		if strings.Contains(g, "/namespaces/"+excluded+"/") {
			t.Fatalf("listed the excluded namespace: GET %s", g)
		}
	}
	if !found {
		t.Fatalf("no cluster-wide list kept %s out on the server: %v", excluded, gets)
	}
}

func TestSweepOfSeveralNamespacesSweepsEachAndNoOther(t *testing.T) {
	a, b, other := cp.NewNamespace(t), cp.NewNamespace(t), cp.NewNamespace(t)
	newApp(t, a, sparkfixture.Spec{})
	newApp(t, b, sparkfixture.Spec{State: sparkfixture.StateFailed})
	untouched := newApp(t, other, sparkfixture.Spec{})
	_, c := admin(t)
	res, err := sweep(t, c, hook.SweepOptions{Namespaces: []string{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{a, b} {
		if left := mapNames(t, ns); len(left) != 0 {
			t.Errorf("%s still holds %v", ns, left)
		}
	}
	if got, want := mapNames(t, other), sorted(untouched.MapNames()); !equal(got, want) {
		t.Fatalf("a namespace not named holds %v, want %v", got, want)
	}
	if len(res.Deleted) == 0 {
		t.Fatal("nothing deleted")
	}
}
