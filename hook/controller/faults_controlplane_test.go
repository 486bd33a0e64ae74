package controller_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/controller"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The controller runs for weeks: its watches break, expire and meet an
// API server that restarts, and its leader dies. These tests make each
// fault happen on a control plane of their own (it would disturb the
// other tests), prove that it happened, and that the controller then still
// cleans what ends and deletes nothing else.

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// clientsOn builds an admin client for the test's own writes and the
// controller's clients on cfg, with wrap (when set) around the
// controller's transport.
func clientsOn(t *testing.T, cfg *rest.Config, wrap func(http.RoundTripper) http.RoundTripper) (kubernetes.Interface, hook.Clients) {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 1000, 2000
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		cfg.Wrap(wrap)
	}
	c, err := hook.NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kube, c
}

// running creates n plain spark-submit applications, running with one
// executor each.
func running(t *testing.T, kube kubernetes.Interface, c hook.Clients, ns string, n int) []*sparkfixture.App {
	t.Helper()
	var apps []*sparkfixture.App
	for range n {
		app, err := sparkfixture.Create(t.Context(), kube, c.Dynamic, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning, Executors: 1})
		if err != nil {
			t.Fatalf("fixture: %v", err)
		}
		apps = append(apps, app)
	}
	return apps
}

// end moves the application's executors and driver to Succeeded, as the
// kubelet does when Spark's driver exits.
func end(ctx context.Context, kube kubernetes.Interface, ns string, app *sparkfixture.App) error {
	for _, p := range slices.Concat(app.ExecutorPods, []string{app.DriverPod}) {
		if err := sparkfixture.SetPodPhase(ctx, kube, ns, p, corev1.PodSucceeded); err != nil {
			return err
		}
	}
	return nil
}

// informerRequest says whether r is one of the controller's informer
// requests for Spark's Pods in ns (the informer selects them by
// spark-role; cleanups select by application id), and whether it starts
// from scratch (a list, or a watch that sends the initial state first)
// rather than resuming from a resourceVersion.
func informerRequest(r *http.Request, ns string) (informer, fromScratch bool) {
	q := r.URL.Query()
	if r.Method != http.MethodGet || r.URL.Path != "/api/v1/namespaces/"+ns+"/pods" || q.Get("labelSelector") != rule.LabelRole {
		return false, false
	}
	return true, q.Get("watch") != "true" || q.Get("sendInitialEvents") == "true"
}

// scanBody reads a watch stream through, calling found each time needle
// goes by (in JSON or protobuf alike: a Status message is raw text in
// both).
type scanBody struct {
	io.ReadCloser
	needle []byte
	tail   []byte
	found  func()
}

func (b *scanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	buf := slices.Concat(b.tail, p[:n])
	for {
		i := bytes.Index(buf, b.needle)
		if i < 0 {
			break
		}
		b.found()
		buf = buf[i+len(b.needle):]
	}
	if keep := len(b.needle) - 1; len(buf) > keep {
		buf = buf[len(buf)-keep:]
	}
	b.tail = buf // a copy: the caller reuses p
	return n, err
}

// tooOld is in what the API server says in the 410 Expired ERROR event
// that ends a watch from a revision it no longer has: "The resourceVersion
// for the provided watch is too old." from etcd, "too old resource
// version" from its watch cache.
var tooOld = []byte("too old")

// TestTheControllerRelistsWhenItsWatchExpiresAndCleansWhatEndedMeanwhile
// runs the controller on an API server without its watch cache, so that
// the API server watches etcd itself. The informer's first watch of Pods
// ends after a few seconds (as every watch ends at its timeout); in
// between, before it watches again, one application ends, and
// etcd is compacted past that end before the informer watches again from
// where it was: the API server ends that watch with 410 Gone. The
// informer must list again, see the end it missed, and the controller
// clean that application; one that ends afterwards is cleaned too, and a
// running one keeps its maps.
func TestTheControllerRelistsWhenItsWatchExpiresAndCleansWhatEndedMeanwhile(t *testing.T) {
	bed := kubecluster.ForTest(t, kubecluster.Options{APIServerFlags: []string{"--watch-cache=false"}})
	ns := bed.NewNamespace(t)
	var (
		fromScratch, expired atomic.Int32
		shortened, resumed   atomic.Bool
		kube                 kubernetes.Interface
	)
	var gap *sparkfixture.App
	kube, c := clientsOn(t, bed.AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			informer, scratch := informerRequest(r, ns)
			if !informer {
				return rt.RoundTrip(r)
			}
			if watching := r.URL.Query().Get("watch") == "true"; watching && shortened.CompareAndSwap(false, true) {
				// The first watch ends after a few seconds, as the API
				// server ends every watch after its timeout: the informer
				// then watches again from where it was.
				q := r.URL.Query()
				q.Set("timeoutSeconds", "3")
				r = r.Clone(r.Context())
				r.URL.RawQuery = q.Encode()
			}
			if scratch {
				fromScratch.Add(1)
			} else if r.URL.Query().Get("watch") == "true" && resumed.CompareAndSwap(false, true) {
				// The first watch that resumes from a resourceVersion: the
				// application ends, and etcd forgets the revisions since.
				if err := end(r.Context(), kube, ns, gap); err != nil {
					t.Errorf("end the application while the watch is down: %v", err)
				}
				if err := bed.CompactEtcd(r.Context()); err != nil {
					t.Errorf("compact etcd: %v", err)
				}
			}
			resp, err := rt.RoundTrip(r)
			if err != nil || r.URL.Query().Get("watch") != "true" {
				return resp, err
			}
			body := &scanBody{ReadCloser: resp.Body, needle: tooOld, found: func() { expired.Add(1) }}
			resp.Body = body
			return resp, nil
		})
	})
	apps := running(t, kube, c, ns, 3)
	gap, later, still := apps[0], apps[1], apps[2]

	r := start(t, c, controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour})
	waitFor(t, "a watch answered 410 Gone", func() bool { return expired.Load() > 0 })
	listed := fromScratch.Load()
	waitFor(t, "the informer to list again", func() bool { return fromScratch.Load() > listed })
	t.Logf("the Pod watch ended with %q %d time(s); the informer started from scratch %d time(s) in all", tooOld, expired.Load(), fromScratch.Load())

	waitFor(t, "the maps of the application that ended while the watch was down to go", func() bool { return len(presentOn(t, kube, ns, gap.MapNames())) == 0 })
	if err := end(t.Context(), kube, ns, later); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the maps of the application that ended afterwards to go", func() bool { return len(presentOn(t, kube, ns, later.MapNames())) == 0 })
	checkCleaned(t, kube, r, []*sparkfixture.App{gap, later}, []*sparkfixture.App{still}, ns)
}

// checkCleaned checks that the controller deleted exactly the maps of the
// ended applications (through their driver Pods' cleanups), nothing
// failed, the running applications keep all their maps, and the
// controller still runs.
func checkCleaned(t *testing.T, kube kubernetes.Interface, r *recorder, ended, running []*sparkfixture.App, ns string) {
	t.Helper()
	for _, app := range ended {
		a := controller.App{Namespace: ns, DriverPod: app.DriverPod}
		// A cleanup reports once it has returned, after its deletes.
		waitFor(t, "the cleanup of "+a.String()+" to report", func() bool { return len(r.deletedBy(a)) >= len(app.MapNames()) })
		if got := sortedCopy(r.deletedBy(a)); !slices.Equal(got, sortedCopy(app.MapNames())) {
			t.Errorf("the cleanups of %s deleted %v, want %v", a, got, app.MapNames())
		}
	}
	for _, app := range running {
		if got := presentOn(t, kube, ns, app.MapNames()); len(got) != len(app.MapNames()) {
			t.Errorf("the running application's maps are %v, want all of %v", got, app.MapNames())
		}
	}
	r.mu.Lock()
	for _, cl := range r.cleaned {
		if cl.res != nil && len(cl.res.Failed) > 0 {
			t.Errorf("cleanup of %s failed: %+v (%v)", cl.app, cl.res.Failed, cl.err)
		}
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		t.Error("the controller stopped")
	default:
	}
}

// TestTheControllerSurvivesAnAPIServerRestartAndCleansWhatEndsAfterIt
// kills kube-apiserver under a running controller and starts it again over
// the same etcd: the informers' watches break, and they must watch again
// once it is back, with the controller still running; an application
// that ends then is cleaned, and a running one keeps its maps.
func TestTheControllerSurvivesAnAPIServerRestartAndCleansWhatEndsAfterIt(t *testing.T) {
	bed := kubecluster.ForTest(t, kubecluster.Options{})
	ns := bed.NewNamespace(t)
	var watches atomic.Int32
	kube, c := clientsOn(t, bed.AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if informer, _ := informerRequest(r, ns); informer && r.URL.Query().Get("watch") == "true" {
				resp, err := rt.RoundTrip(r)
				if err == nil && resp.StatusCode == http.StatusOK {
					watches.Add(1)
				}
				return resp, err
			}
			return rt.RoundTrip(r)
		})
	})
	apps := running(t, kube, c, ns, 2)
	ended, still := apps[0], apps[1]
	r := start(t, c, controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour})

	before := watches.Load()
	bed.StopAPIServer()
	down, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	_, err := kube.CoreV1().Namespaces().Get(down, ns, metav1.GetOptions{})
	cancel()
	if err == nil {
		t.Fatal("the API server still answers after it was killed: the test proves nothing")
	}
	t.Logf("while kube-apiserver is down: %v", err)
	time.Sleep(2 * time.Second) // down for a while, as a restarting Pod is
	if err := bed.StartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the informer to watch Pods again", func() bool { return watches.Load() > before })
	t.Logf("the informer opened %d watch(es) of Pods before the restart, %d in all", before, watches.Load())

	if err := end(t.Context(), kube, ns, ended); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the maps of the application that ended after the restart to go", func() bool { return len(presentOn(t, kube, ns, ended.MapNames())) == 0 })
	checkCleaned(t, kube, r, []*sparkfixture.App{ended}, []*sparkfixture.App{still}, ns)
}

// auditPolicy records every ConfigMap delete with its answer.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["delete", "deletecollection"]
  resources: [{group: "", resources: ["configmaps"]}]
- level: None
`

// auditedDeletes reads the API server's audit log: for each ConfigMap of
// ns, the answers to the deletes of it.
func auditedDeletes(t *testing.T, path, ns string) map[string][]int32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	out := map[string][]int32{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Verb      string `json:"verb"`
			Stage     string `json:"stage"`
			ObjectRef struct {
				Resource, Namespace, Name string
			} `json:"objectRef"`
			ResponseStatus struct {
				Code int32 `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit log: %v", err)
		}
		if ev.Stage != "ResponseComplete" || ev.ObjectRef.Resource != "configmaps" || ev.ObjectRef.Namespace != ns {
			continue
		}
		if ev.Verb == "deletecollection" {
			t.Errorf("a deletecollection of the namespace's maps: %s", sc.Text())
		}
		out[ev.ObjectRef.Name] = append(out[ev.ObjectRef.Name], ev.ResponseStatus.Code)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestALeaderThatDiesMidQueueLeavesTheRestToTheNextOneAndNothingIsDeletedTwice
// ends 30 applications at once under two replicas working one application
// at a time, the leader's deletes slowed so that its queue holds most of
// them when it dies, without releasing its Lease, right after its first
// deletes. The other replica takes over once the Lease expires and drains
// the queue. The API server's audit log is the witness: every ended
// application's maps are gone, each answered 200 to exactly one delete
// (a second delete would find it gone), and no running application's map
// was ever the target of a delete.
func TestALeaderThatDiesMidQueueLeavesTheRestToTheNextOneAndNothingIsDeletedTwice(t *testing.T) {
	dir := t.TempDir()
	policy, auditLog := filepath.Join(dir, "audit-policy.yaml"), filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	bed := kubecluster.ForTest(t, kubecluster.Options{APIServerFlags: []string{"--audit-policy-file=" + policy, "--audit-log-path=" + auditLog, "--audit-log-mode=blocking"}})
	ns := bed.NewNamespace(t)
	kube, cb := clientsOn(t, bed.AdminConfig(), nil)
	_, ca := clientsOn(t, bed.AdminConfig(), func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodDelete && path.Base(path.Dir(r.URL.Path)) == "configmaps" {
				select {
				case <-time.After(time.Second):
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return rt.RoundTrip(r)
		})
	})
	const nEnded, nRunning = 30, 5
	apps := running(t, kube, cb, ns, nEnded+nRunning)
	ended, still := apps[:nEnded], apps[nEnded:]

	elect := func(c hook.Clients, id string) func(context.Context, func(context.Context)) error {
		e := &controller.Elector{Leases: c.Kube.CoordinationV1().Leases(ns), Namespace: ns, Name: "sparkcm-hook-controller", Identity: id,
			LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond, KeepOnStop: true, Log: testLog()}
		return e.Run
	}
	o := controller.Options{Namespaces: []string{ns}, Grace: 0, ResyncPeriod: time.Hour, OlderThan: time.Hour, Workers: 1}
	oa, ob := o, o
	oa.Lead, ob.Lead = elect(ca, "replica-a"), elect(cb, "replica-b")
	a, stopA := run(t, ca, oa)
	waitFor(t, "replica-a to lead (its first sweep)", a.swept)
	b, _ := run(t, cb, ob)

	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			for j := i; j < nEnded; j += 6 {
				if err := end(t.Context(), kube, ns, ended[j]); err != nil {
					t.Errorf("end: %v", err)
				}
			}
		})
	}
	wg.Wait()
	waitFor(t, "replica-a's first deletes", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.ContainsFunc(a.cleaned, func(c cleaned) bool { return c.res != nil && len(c.res.Deleted) > 0 })
	})
	stopA()

	var endedMaps, runningMaps []string
	for _, app := range ended {
		endedMaps = append(endedMaps, app.MapNames()...)
	}
	for _, app := range still {
		runningMaps = append(runningMaps, app.MapNames()...)
	}
	waitFor(t, "every ended application's maps to go", func() bool { return len(presentOn(t, kube, ns, endedMaps)) == 0 })
	if got := presentOn(t, kube, ns, runningMaps); len(got) != len(runningMaps) {
		t.Errorf("the running applications' maps are %v, want all of %v", got, runningMaps)
	}

	byReplica := map[string]int{}
	for who, r := range map[string]*recorder{"replica-a": a, "replica-b": b} {
		r.mu.Lock()
		for _, cl := range r.cleaned {
			if cl.res != nil {
				byReplica[who] += len(cl.res.Deleted)
			}
		}
		r.mu.Unlock()
	}
	t.Logf("maps deleted by replica-a: %d, by replica-b: %d, of %d", byReplica["replica-a"], byReplica["replica-b"], len(endedMaps))
	if byReplica["replica-a"] == 0 || byReplica["replica-b"] == 0 {
		t.Errorf("the leader did not die mid-queue: replica-a deleted %d maps, replica-b %d", byReplica["replica-a"], byReplica["replica-b"])
	}
	audit := auditedDeletes(t, auditLog, ns)
	answers := map[int32]int{}
	for _, codes := range audit {
		for _, code := range codes {
			answers[code]++
		}
	}
	t.Logf("the audit log's deletes of the namespace's maps, by answer: %v", answers)
	for _, m := range endedMaps {
		if n := len(slices.DeleteFunc(slices.Clone(audit[m]), func(code int32) bool { return code != http.StatusOK })); n != 1 {
			t.Errorf("map %s: %d deletes answered 200 (all answers %v), want 1", m, n, audit[m])
		}
	}
	for _, m := range runningMaps {
		if len(audit[m]) > 0 {
			t.Errorf("map %s of a running application was deleted: answers %v", m, audit[m])
		}
	}
	lease, err := kube.CoordinationV1().Leases(ns).Get(t.Context(), "sparkcm-hook-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != "replica-b" {
		t.Errorf("the Lease is held by %v, want replica-b", h)
	}
}
