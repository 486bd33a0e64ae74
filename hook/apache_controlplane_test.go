package hook_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/apachefixture"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// apacheCP is a control plane with both operators' SparkApplication CRDs
// (the Kubeflow one and the Apache Spark Kubernetes Operator's), and no
// garbage collector: a released driver's maps stay until the tool (or, in
// TestApacheReleaseLeavesNothingToTheTool, the real collector) removes them.
var apacheCP = kubecluster.NewShared(kubecluster.Options{ApacheCRD: true})

type apacheBed struct {
	ns   string
	kube kubernetes.Interface
	dyn  dynamic.Interface
	c    hook.Clients
	op   apachefixture.Operator
}

func newApacheBed(t *testing.T, shared *kubecluster.ControlPlane) *apacheBed {
	t.Helper()
	cfg := shared.AdminConfig()
	b := &apacheBed{ns: shared.NewNamespace(t), kube: kubeFor(t, cfg), dyn: dynamic.NewForConfigOrDie(cfg), c: clientsFor(t, cfg, nil)}
	b.op = apachefixture.Operator{Kube: b.kube, Dyn: b.dyn}
	return b
}

// launch creates an application and its first attempt's driver Pod,
// Service and maps.
func (b *apacheBed) launch(t *testing.T, spec apachefixture.Spec) *apachefixture.Attempt {
	t.Helper()
	ctx := ctxFor(t)
	if _, err := b.op.Create(ctx, b.ns, spec); err != nil {
		t.Fatal(err)
	}
	a, err := b.op.Launch(ctx, b.ns, spec.Name, 0, spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// endedAMinuteAgo dates the application's final state a minute back. The
// operator stamps it with its own clock, to the nanosecond; sweep measures
// ages on the API server's, to the second, and keeps the maps of an
// application whose end lies ahead of that clock (a skew), so a sweep in
// the same second as the stop would rightly keep them.
func (b *apacheBed) endedAMinuteAgo(t *testing.T, a *apachefixture.Attempt, state string) {
	t.Helper()
	if err := b.op.SetStateAt(ctxFor(t), b.ns, a.AppName, a.ID, state, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func (b *apacheBed) maps(t *testing.T) []string {
	t.Helper()
	list, err := b.kube.CoreV1().ConfigMaps(b.ns).List(ctxFor(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range list.Items {
		if m.Name != "kube-root-ca.crt" {
			out = append(out, m.Name)
		}
	}
	slices.Sort(out)
	return out
}

// An Apache operator application in any state but the two final ones runs
// (Succeeded and Failed too: the operator may still restart it): cleanup
// deletes nothing and says it runs (exit 4), and a sweep deletes nothing,
// though every driver Pod has ended.
func TestApacheApplicationInEveryNonTerminalStateKeepsItsMaps(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	for i, state := range apachefixture.NonTerminal {
		name := fmt.Sprintf("app-%d", i)
		a := b.launch(t, apachefixture.Spec{Name: name})
		if err := apachefixture.SetPodPhase(ctx, b.kube, b.ns, a.Driver.Name, corev1.PodSucceeded); err != nil {
			t.Fatal(err)
		}
		if err := b.op.SetState(ctx, b.ns, name, 0, state); err != nil {
			t.Fatal(err)
		}
	}
	before := b.maps(t)
	for i, state := range apachefixture.NonTerminal {
		_, err := hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: fmt.Sprintf("app-%d", i), NoEvent: true})
		var running *hook.StillRunningError
		if !errors.As(err, &running) || !strings.Contains(running.State, "is "+state) {
			t.Errorf("cleanup of an application in %s: %v, want StillRunningError naming the state", state, err)
		}
	}
	res, err := hook.Sweep(ctx, b.c, testLog(t), hook.SweepOptions{Namespace: b.ns, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || !slices.Equal(b.maps(t), before) {
		t.Fatalf("sweep deleted %v of running applications", names(res.Deleted))
	}
}

// ResourceReleased is final: the maps the released driver Pod left (no
// garbage collector here) are deleted, whichever way cleanup is pointed at
// the application: its name, its driver Pod's name (gone), its app id; the
// user's map from spec.configMapSpecs stays.
func TestApacheResourceReleasedApplicationsLeftoversAreDeleted(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	for _, tc := range []struct {
		app    string
		target func(a *apachefixture.Attempt) hook.CleanupOptions
	}{
		{"by-name", func(a *apachefixture.Attempt) hook.CleanupOptions { return hook.CleanupOptions{SparkApp: a.AppName} }},
		{"by-driver", func(a *apachefixture.Attempt) hook.CleanupOptions {
			return hook.CleanupOptions{DriverPod: a.Driver.Name}
		}},
		{"by-id", func(a *apachefixture.Attempt) hook.CleanupOptions { return hook.CleanupOptions{AppID: a.AppID} }},
	} {
		t.Run(tc.app, func(t *testing.T) {
			user := tc.app + "-user-conf"
			a := b.launch(t, apachefixture.Spec{Name: tc.app, Hadoop: true, Krb5: true, ConfigMapSpecs: []string{user}})
			if err := b.op.Stop(ctx, a, corev1.PodSucceeded, true); err != nil {
				t.Fatal(err)
			}
			o := tc.target(a)
			o.Namespace, o.NoEvent = b.ns, true
			res, err := hook.Cleanup(ctx, b.c, testLog(t), o)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(res.Deleted); !slices.Equal(got, a.Maps) {
				t.Fatalf("deleted %v, want the driver's maps %v; skipped %s", got, a.Maps, reasons(res.Skipped))
			}
			for _, m := range b.maps(t) {
				if strings.HasPrefix(m, a.AppID+"-") {
					t.Errorf("left %s", m)
				}
			}
			if !slices.Contains(b.maps(t), user) {
				t.Errorf("the user's map %s was deleted", user)
			}
		})
	}
}

// TerminatedWithoutReleaseResources keeps what the user asked to keep:
// with a retain duration, until the operator releases it itself; with
// none, cleanup never deletes, and only a sweep does, once --older-than
// has passed since the application stopped, saying in its ledger that it
// overrides the policy.
func TestApacheRetainedApplicationsMapsFollowTheUsersChoice(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	timed := b.launch(t, apachefixture.Spec{Name: "timed", RetainPolicy: "Always", RetainDurationMillis: ptr.To(int64(3600 * 1000))})
	endless := b.launch(t, apachefixture.Spec{Name: "endless", RetainPolicy: "Always"})
	for _, a := range []*apachefixture.Attempt{timed, endless} {
		if err := b.op.Stop(ctx, a, corev1.PodSucceeded, false); err != nil {
			t.Fatal(err)
		}
		b.endedAMinuteAgo(t, a, apachefixture.TerminatedWithoutReleaseResources)
	}
	for _, tc := range []struct{ app, want string }{
		{"timed", "the operator releases its resources itself at"},
		{"endless", "only sweep --older-than deletes them"},
	} {
		res, err := hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: tc.app, NoEvent: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Deleted) != 0 || len(res.Skipped) == 0 || !strings.Contains(res.Skipped[0].Reason, tc.want) {
			t.Fatalf("cleanup %s: deleted %v, skipped %+v; want all kept because %q", tc.app, names(res.Deleted), res.Skipped, tc.want)
		}
	}
	res, err := hook.Sweep(ctx, b.c, testLog(t), hook.SweepOptions{Namespace: b.ns, OlderThan: time.Hour, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("sweep --older-than 1h deleted %v of applications stopped just now", names(res.Deleted))
	}
	res, err = hook.Sweep(ctx, b.c, testLog(t), hook.SweepOptions{Namespace: b.ns, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !slices.Equal(got, endless.Maps) {
		t.Fatalf("sweep --older-than 0s deleted %v, want the endless retention's maps %v; skipped %s", got, endless.Maps, reasons(res.Skipped))
	}
	for _, e := range res.Deleted {
		if !strings.Contains(e.Reason, "overrides resourceRetainPolicy Always") {
			t.Errorf("ledger entry %s does not say it overrides the retain policy: %q", e.Name, e.Reason)
		}
	}
	if got := b.maps(t); !slices.Equal(got, timed.Maps) {
		t.Fatalf("left %v, want the timed retention's maps %v", got, timed.Maps)
	}
}

// A restarted application: the earlier attempt's maps go once its driver
// has ended, while the current attempt runs and keeps its own.
func TestApacheRestartedApplicationLosesOnlyTheEarlierAttemptsMaps(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	first := b.launch(t, apachefixture.Spec{Name: "etl"})
	if err := b.op.Stop(ctx, first, corev1.PodFailed, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{apachefixture.ScheduledToRestart} {
		if err := b.op.SetState(ctx, b.ns, "etl", 1, s); err != nil {
			t.Fatal(err)
		}
	}
	second, err := b.op.Launch(ctx, b.ns, "etl", 1, apachefixture.Spec{Name: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	if err := apachefixture.SetPodPhase(ctx, b.kube, b.ns, second.Driver.Name, corev1.PodRunning); err != nil {
		t.Fatal(err)
	}
	if err := b.op.Run(ctx, b.ns, "etl", 1); err != nil {
		t.Fatal(err)
	}
	res, err := hook.Sweep(ctx, b.c, testLog(t), hook.SweepOptions{Namespace: b.ns, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !slices.Equal(got, first.Maps) {
		t.Fatalf("deleted %v, want the first attempt's maps %v; skipped %s", got, first.Maps, reasons(res.Skipped))
	}
	if got := b.maps(t); !slices.Equal(got, second.Maps) {
		t.Fatalf("left %v, want the running attempt's maps %v", got, second.Maps)
	}
	_, err = hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: "etl", NoEvent: true})
	var running *hook.StillRunningError
	if !errors.As(err, &running) {
		t.Fatalf("cleanup of the running application: %v, want StillRunningError", err)
	}
}

// With the operator down, a finished driver can still read RunningHealthy:
// its maps stay, and the ledger says the status disagrees with the Pod.
func TestApacheStaleRunningHealthyStatusKeepsTheMaps(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	a := b.launch(t, apachefixture.Spec{Name: "stale"})
	if err := b.op.Run(ctx, b.ns, "stale", 0); err != nil {
		t.Fatal(err)
	}
	if err := apachefixture.SetPodPhase(ctx, b.kube, b.ns, a.Driver.Name, corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	res, err := hook.Sweep(ctx, b.c, testLog(t), hook.SweepOptions{Namespace: b.ns, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 || len(res.Skipped) != len(a.Maps) {
		t.Fatalf("deleted %v, skipped %v; want every map kept", names(res.Deleted), names(res.Skipped))
	}
	for _, e := range res.Skipped {
		if !strings.Contains(e.Reason, "is RunningHealthy") || !strings.Contains(e.Reason, "the status disagrees") {
			t.Errorf("%s kept because %q; want the stale status named", e.Name, e.Reason)
		}
	}
}

// Both operators' CRDs, one application name in each: a bare name is
// refused (a usage error, nothing read further or deleted), and the
// operator the user names is the one cleaned.
func TestBothOperatorsWithOneNameAskWhichIsMeant(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	kubeflow, err := sparkfixture.Create(ctx, b.kube, b.dyn, b.ns, sparkfixture.Spec{Name: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	apache := b.launch(t, apachefixture.Spec{Name: "etl"})
	if err := b.op.Stop(ctx, apache, corev1.PodSucceeded, true); err != nil {
		t.Fatal(err)
	}
	before := b.maps(t)
	_, err = hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: "etl", NoEvent: true})
	var usage *hook.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--operator") {
		t.Fatalf("cleanup of an ambiguous name: %v, want a usage error asking for --operator", err)
	}
	if !slices.Equal(b.maps(t), before) {
		t.Fatal("an ambiguous cleanup deleted maps")
	}
	res, err := hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: "sparkapplications.spark.apache.org/etl", NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !slices.Equal(got, apache.Maps) {
		t.Fatalf("cleanup of the Apache application deleted %v, want %v", got, apache.Maps)
	}
	res, err = hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: "etl", Operator: hook.OperatorKubeflow, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), kubeflow.MapNames(); !slices.Equal(got, sorted(want)) {
		t.Fatalf("cleanup of the Kubeflow application deleted %v, want %v", got, want)
	}
}

// One sweep over a namespace with both operators' applications, running
// and finished, deletes exactly the finished ones' leftovers.
func TestSweepOverBothOperatorsDeletesExactlyTheFinishedOnesLeftovers(t *testing.T) {
	b := newApacheBed(t, apacheCP.Get(t))
	ctx := ctxFor(t)
	kfDone, err := sparkfixture.Create(ctx, b.kube, b.dyn, b.ns, sparkfixture.Spec{Name: "kf-done"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sparkfixture.Create(ctx, b.kube, b.dyn, b.ns, sparkfixture.Spec{Name: "kf-running", State: sparkfixture.StateRunning, DriverPhase: corev1.PodRunning}); err != nil {
		t.Fatal(err)
	}
	apDone := b.launch(t, apachefixture.Spec{Name: "ap-done"})
	if err := b.op.Stop(ctx, apDone, corev1.PodSucceeded, true); err != nil {
		t.Fatal(err)
	}
	b.endedAMinuteAgo(t, apDone, apachefixture.ResourceReleased)
	apRunning := b.launch(t, apachefixture.Spec{Name: "ap-running"})
	if err := apachefixture.SetPodPhase(ctx, b.kube, b.ns, apRunning.Driver.Name, corev1.PodRunning); err != nil {
		t.Fatal(err)
	}
	if err := b.op.Run(ctx, b.ns, "ap-running", 0); err != nil {
		t.Fatal(err)
	}
	before := b.maps(t)
	res, err := hook.Sweep(ctx, b.c, testLog(t), hook.SweepOptions{Namespace: b.ns, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	want := sorted(append(kfDone.MapNames(), apDone.Maps...))
	if got := names(res.Deleted); !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want exactly the finished applications' maps %v; skipped %s", got, want, reasons(res.Skipped))
	}
	if got := b.maps(t); !slices.Equal(got, without(before, want...)) {
		t.Fatalf("left %v, want %v", got, without(before, want...))
	}
}

// With the real garbage collector, releasing an application (the operator
// deletes its driver Pod) removes every map the driver owned; the tool then
// finds nothing to do and says so.
func TestApacheReleaseLeavesNothingToTheTool(t *testing.T) {
	gc := kubecluster.ForTest(t, kubecluster.Options{ApacheCRD: true, ControllerManager: true})
	b := newApacheBed(t, gc)
	ctx := ctxFor(t)
	a := b.launch(t, apachefixture.Spec{Name: "pi", Hadoop: true})
	if err := b.op.Stop(ctx, a, corev1.PodSucceeded, true); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
		return len(b.maps(t)) == 0, nil
	})
	if err != nil {
		t.Fatalf("the garbage collector left %v", b.maps(t))
	}
	res, err := hook.Cleanup(ctx, b.c, testLog(t), hook.CleanupOptions{Namespace: b.ns, SparkApp: "pi", NoEvent: true})
	if err != nil || len(res.Deleted)+len(res.Skipped) != 0 {
		t.Fatalf("cleanup after the collector: %v, %+v", err, res)
	}
}

// reasons lists skipped entries as "name: reason", one per line.
func reasons(entries []hook.Entry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "\n  %s: %s", e.Name, e.Reason)
	}
	return b.String()
}

// The chart's Role grants the Apache operator's group only behind a value:
// a sweep that may not list those applications keeps every map whose chain
// leads to one (here an application whose status still says it runs,
// though its driver ended), saying why, and sweeps the rest as ever. A
// released application's maps, whose driver Pod is gone, go: nothing of
// them can run again (the garbage collector would take them too).
func TestSweepNotAllowedToReadApacheApplicationsKeepsTheirMaps(t *testing.T) {
	shared := apacheCP.Get(t)
	b := newApacheBed(t, shared)
	ctx := ctxFor(t)
	kf, err := sparkfixture.Create(ctx, b.kube, b.dyn, b.ns, sparkfixture.Spec{Name: "kf-done"})
	if err != nil {
		t.Fatal(err)
	}
	released := b.launch(t, apachefixture.Spec{Name: "ap-done"})
	if err := b.op.Stop(ctx, released, corev1.PodSucceeded, true); err != nil {
		t.Fatal(err)
	}
	b.endedAMinuteAgo(t, released, apachefixture.ResourceReleased)
	stale := b.launch(t, apachefixture.Spec{Name: "ap-stale"})
	if err := b.op.Run(ctx, b.ns, "ap-stale", 0); err != nil {
		t.Fatal(err)
	}
	if err := apachefixture.SetPodPhase(ctx, b.kube, b.ns, stale.Driver.Name, corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	if _, err := b.kube.CoreV1().ServiceAccounts(b.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sweeper"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.kube.RbacV1().Roles(b.ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "sweeper"}, Rules: hook.RoleRules()}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.kube.RbacV1().RoleBindings(b.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sweeper"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "sweeper"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "sweeper", Namespace: b.ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := shared.ServiceAccountConfig(ctx, b.ns, "sweeper")
	if err != nil {
		t.Fatal(err)
	}
	res, err := hook.Sweep(ctx, clientsFor(t, cfg, nil), testLog(t), hook.SweepOptions{Namespace: b.ns, NoEvent: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(res.Deleted), sorted(append(kf.MapNames(), released.Maps...)); !slices.Equal(got, want) {
		t.Fatalf("deleted %v, want %v; skipped %s", got, want, reasons(res.Skipped))
	}
	if got := names(res.Skipped); !slices.Equal(got, stale.Maps) {
		t.Fatalf("skipped %s; want the Apache application's maps %v", reasons(res.Skipped), stale.Maps)
	}
	for _, e := range res.Skipped {
		if !strings.Contains(e.Reason, "state cannot be known") || !strings.Contains(e.Reason, "spark.apache.org") {
			t.Errorf("%s kept because %q; want its application's state unknown, naming the group", e.Name, e.Reason)
		}
	}
}
