package hook_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// endDriverContainer plays the kubelet for a driver Pod with a sidecar: the
// driver container has terminated, the sidecar still runs, so the Pod stays
// Running.
func endDriverContainer(ctx context.Context, t *testing.T, ns, pod string) {
	endDriverContainerAt(ctx, t, ns, pod, time.Now())
}

// endDriverContainerAt reports the driver container's end at the given
// time, to the second as the kubelet does.
func endDriverContainerAt(ctx context.Context, t *testing.T, ns, pod string, at time.Time) {
	kube, _ := admin(t)
	p, err := kube.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	now := metav1.NewTime(at.Truncate(time.Second))
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: rule.DefaultDriverContainer, Image: "spark", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", FinishedAt: now}}},
		{Name: "sparkcm-hook", Image: "sparkcm-hook", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}},
	}
	if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

func TestWatchCleansUpOnceTheDriverContainerTerminatesWhileThePodStillRuns(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, PodTemplate: true, Executors: 1, ExecutorPhase: corev1.PodSucceeded})
	other := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	_, c := admin(t)
	done := make(chan struct{})
	var res *hook.Result
	var err error
	go func() {
		defer close(done)
		res, err = hook.Watch(ctxFor(t), c, testLog(t), hook.WatchOptions{Namespace: ns, Pod: app.DriverPod})
	}()
	// The watch must not act while the driver runs.
	select {
	case <-done:
		t.Fatalf("watch returned while the driver was running: %v", err)
	case <-time.After(2 * time.Second):
	}
	if len(mapNames(t, ns)) != len(app.MapNames())+len(other.MapNames()) {
		t.Fatal("maps deleted while the driver was running")
	}
	endDriverContainer(ctxFor(t), t, ns, app.DriverPod)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("watch did not clean up within a minute of the driver ending")
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
	if got := mapNames(t, ns); !equal(got, sorted(other.MapNames())) {
		t.Fatalf("left %v, want only the other application's maps", got)
	}
}

// watchResult is what a hook.Watch run in the background returned.
type watchResult struct {
	res *hook.Result
	err error
}

// watchInBackground runs hook.Watch on a driver Pod until it returns; stop
// is what SIGTERM does in main. It waits until the watch has had time to
// look at the Pod.
func watchInBackground(t *testing.T, ns, pod string) (stop func(), done <-chan watchResult) {
	t.Helper()
	_, c := admin(t)
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	ch := make(chan watchResult, 1)
	go func() {
		res, err := hook.Watch(ctx, c, testLog(t), hook.WatchOptions{Namespace: ns, Pod: pod})
		ch <- watchResult{res, err}
	}()
	time.Sleep(time.Second)
	return stop, ch
}

// awaitWatch returns what the watch returned, failing the test when that
// takes longer than within.
func awaitWatch(t *testing.T, done <-chan watchResult, within time.Duration) watchResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(within):
		t.Fatalf("watch did not return within %s", within)
		return watchResult{}
	}
}

func wantStillRunning(t *testing.T, err error) {
	t.Helper()
	var running *hook.StillRunningError
	if !errors.As(err, &running) {
		t.Fatalf("err %v, want StillRunningError", err)
	}
}

func TestWatchOnSIGTERMBeforeTheDriverEndsDeletesNothingAndReturnsPromptly(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	stop, done := watchInBackground(t, ns, app.DriverPod)
	stop()
	wantStillRunning(t, awaitWatch(t, done, 15*time.Second).err)
	if got := mapNames(t, ns); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("maps changed: %v", got)
	}
}

func TestWatchOnSIGTERMAfterTheDriverEndedStillCleansUp(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	endDriverContainer(ctxFor(t), t, ns, app.DriverPod)
	_, c := admin(t)
	ctx, stop := context.WithCancel(context.Background())
	stop() // the signal arrived before the watch even looked
	res, err := hook.Watch(ctx, c, testLog(t), hook.WatchOptions{Namespace: ns, Pod: app.DriverPod})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

// A native sidecar gets SIGTERM the moment the driver container exits,
// before the kubelet has told the API server: the sidecar must wait for that
// report instead of finding the driver "Running" and keeping its maps.
func TestWatchOnSIGTERMJustAfterTheDriverEndedWaitsForTheKubeletsReport(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	stop, done := watchInBackground(t, ns, app.DriverPod)
	ended := time.Now()
	stop()
	time.Sleep(time.Second) // the kubelet's report is late
	endDriverContainerAt(ctxFor(t), t, ns, app.DriverPod, ended)
	r := awaitWatch(t, done, time.Minute)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := names(r.res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
}

// A Pod deleted while its driver runs: the sidecar's SIGTERM comes first and
// the driver ends during the grace period. That is the Pod being stopped,
// not the application finishing, and nothing is deleted.
func TestWatchOnSIGTERMBeforeTheDriverEndedKeepsItsMapsWhenItEndsDuringTheGrace(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	stop, done := watchInBackground(t, ns, app.DriverPod)
	stop()
	time.Sleep(time.Second)
	// Reported in a later second than the SIGTERM, as any end that came
	// after it is once the report's second has passed.
	endDriverContainerAt(ctxFor(t), t, ns, app.DriverPod, time.Now().Add(time.Second))
	wantStillRunning(t, awaitWatch(t, done, time.Minute).err)
	if got := mapNames(t, ns); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("maps changed: %v", got)
	}
}
