package hook_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func TestSweepDeletesBehindTheListAndHandsEveryEntryToRecord(t *testing.T) {
	ns := cp.NewNamespace(t)
	want := bulkMaps(t, ns, 60)
	// Watch the order of requests: a DELETE before the last page of maps
	// was asked for means deletes run behind the list, not after it.
	var (
		deleteBeforeLast  atomic.Bool
		mapPagesRequested atomic.Int32
		lastPageRequested atomic.Bool
	)
	watched := clientsFor(t, cp.Get(t).AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete && !lastPageRequested.Load() {
				deleteBeforeLast.Store(true)
			}
			resp, err := rt.RoundTrip(r)
			if isMapList(r) || (r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && r.URL.Query().Get("continue") != "") {
				mapPagesRequested.Add(1)
				if mapPagesRequested.Load() == 6 { // 60 maps in pages of 10 (the sixth is the last)
					lastPageRequested.Store(true)
				}
			}
			return resp, err
		})
	})
	var mu sync.Mutex
	var recorded []string
	res, err := sweep(t, watched, hook.SweepOptions{Namespace: ns, PageSize: 10, BatchSize: 5, Concurrency: 2,
		Record: func(e hook.Entry) { mu.Lock(); recorded = append(recorded, e.Name); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if !deleteBeforeLast.Load() {
		t.Fatal("no map was deleted before the list's last page: the deletes did not run behind the list")
	}
	if got := sorted(recorded); !equal(got, sorted(want)) {
		t.Fatalf("recorded %d entries, want one for each of the %d maps", len(got), len(want))
	}
	if len(res.Deleted)+len(res.Skipped)+len(res.Failed) != 0 || res.Counts.Deleted != len(want) {
		t.Fatalf("with Record the result holds %d entries and counts %+v; want none and %d deleted", len(res.Deleted)+len(res.Skipped), res.Counts, len(want))
	}
	if len(mapNames(t, ns)) != 0 {
		t.Fatalf("left %v", mapNames(t, ns))
	}
}

func TestSweepAllNamespacesSkipsAndReportsANamespaceItCannotRead(t *testing.T) {
	home, a, b, closed := cp.NewNamespace(t), cp.NewNamespace(t), cp.NewNamespace(t), cp.NewNamespace(t)
	appA := newApp(t, a, sparkfixture.Spec{})
	appB := newApp(t, b, sparkfixture.Spec{})
	appClosed := newApp(t, closed, sparkfixture.Spec{})
	kube, _ := admin(t)
	ctx := ctxFor(t)
	sa := "sweeper"
	sweeper := serviceAccount(t, home, sa)
	// The sweep's Role in a and b only, and the right to list namespaces:
	// no cluster-wide list of ConfigMaps or Pods.
	bindRole(t, cleanupRole(a), home, sa)
	bindRole(t, cleanupRole(b), home, sa)
	crName := "list-namespaces-" + home
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: crName},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: crName},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: crName},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: home}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var res *hook.Result
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// New bindings reach the authorizer through a watch.
		res, err = sweep(t, sweeper, hook.SweepOptions{AllNamespaces: true})
		if err == nil && res.Counts.Deleted == len(appA.MapNames())+len(appB.MapNames()) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("sweep -A: %v", err)
	}
	if !contains(mapNames(t, closed), appClosed.DriverConfMap) || len(mapNames(t, a)) != 0 || len(mapNames(t, b)) != 0 {
		t.Fatalf("left in a %v, b %v, closed %v", mapNames(t, a), mapNames(t, b), mapNames(t, closed))
	}
	reported := false
	for _, u := range res.Unreadable {
		if u.Namespace == closed && strings.Contains(u.Reason, "forbidden") {
			reported = true
		}
	}
	if !reported {
		t.Fatalf("unreadable namespaces %+v do not report %s", res.Unreadable, closed)
	}

	// An account that can read no namespace at all sweeps nothing: exit 3.
	_, err = sweep(t, serviceAccount(t, home, "nobody"), hook.SweepOptions{AllNamespaces: true})
	var fe *hook.ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("err %v, want forbidden when nothing could be swept", err)
	}
}
