package hook_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// kube-apiserver is killed in the middle of a run and started again on the
// same port over the same etcd: the run either finishes, or fails with
// exit 1 having deleted only the right maps, and a rerun finishes the job.

// restartAfter kills kube-apiserver once the sweep has decided `after` maps,
// keeps it down for down and starts it again; wait returns once it is back.
func restartAfter(t *testing.T, c *kubecluster.ControlPlane, after int, down time.Duration) (progress func(decided, deleted int), wait func() bool) {
	var once sync.Once
	var done sync.WaitGroup
	var fired atomic.Bool
	done.Add(1)
	progress = func(decided, _ int) {
		if decided < after {
			return
		}
		once.Do(func() {
			fired.Store(true)
			c.StopAPIServer()
			go func() {
				defer done.Done()
				time.Sleep(down)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				if err := c.StartAPIServer(ctx); err != nil {
					t.Errorf("restart: %v", err)
				}
			}()
		})
	}
	return progress, func() bool {
		if fired.Load() {
			done.Wait()
		}
		return fired.Load()
	}
}

// restartScene is a control plane of its own (the restart would disturb
// the other tests) with a namespace of maps that must go and must stay,
// and a ServiceAccount with the documented Role to sweep as.
func restartScene(t *testing.T, maps int) (*kubecluster.ControlPlane, *faultScene, hook.Clients) {
	c := kubecluster.ForTest(t, kubecluster.Options{})
	s := newFaultScene(t, c, maps)
	kube := c.Clientset()
	ctx := ctxFor(t)
	role := cleanupRole(s.ns)
	if _, err := kube.RbacV1().Roles(s.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(s.ns).Create(ctx, roleBinding(s.ns, "sweeper"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.ServiceAccountConfig(ctx, s.ns, "sweeper")
	if err != nil {
		t.Fatal(err)
	}
	sa := clientsFor(t, cfg, nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := kubeFor(t, cfg).CoreV1().ConfigMaps(s.ns).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the role never applied: %v", err)
		}
	}
	return c, s, sa
}

func TestSweepFinishesWhenTheAPIServerRestartsUnderIt(t *testing.T) {
	skipShort(t)
	c, s, sa := restartScene(t, scaleMaps(t, 600))
	progress, wait := restartAfter(t, c, len(s.gone)/3, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := hook.Sweep(ctx, sa, testLog(t), hook.SweepOptions{Namespace: s.ns, Progress: progress})
	if !wait() {
		t.Fatal("the API server was never restarted: the test proves nothing")
	}
	if err != nil {
		t.Fatalf("a restart inside the retry budget ended the sweep: exit %d, %v", exitcode.Of(err), err)
	}
	if left := s.check(t, c); left != 0 {
		t.Fatalf("%d maps that should go are left", left)
	}
	t.Logf("%d deleted, %d retried across the restart", len(res.Deleted), res.Retries)
}

func TestSweepFailsWithExitOneWhenTheAPIServerStaysDownAndARerunFinishes(t *testing.T) {
	skipShort(t)
	c, s, sa := restartScene(t, scaleMaps(t, 600))
	// Down for longer than each request may retry.
	progress, wait := restartAfter(t, c, len(s.gone)/3, 8*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := hook.Sweep(ctx, sa, testLog(t), hook.SweepOptions{Namespace: s.ns, Progress: progress, Retry: hook.RetryPolicy{Budget: 3 * time.Second}})
	if !wait() {
		t.Fatal("the API server was never restarted: the test proves nothing")
	}
	if err == nil || exitcode.Of(err) != 1 {
		t.Fatalf("err %v (exit %d), want exit 1 after the retries ran out", err, exitcode.Of(err))
	}
	left := s.check(t, c)
	if left == 0 {
		t.Fatal("the failed run deleted everything: the restart came too late to test anything")
	}
	t.Logf("failed run: %d deleted, %d failed, %d left; %v", res.Counts.Deleted, res.Counts.Failed, left, err)
	if _, err := hook.Sweep(ctxFor(t), sa, testLog(t), hook.SweepOptions{Namespace: s.ns}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if left := s.check(t, c); left != 0 {
		t.Fatalf("the rerun left %d maps that should go", left)
	}
}

func TestWatchCleansUpAfterTheAPIServerRestartedWhileItWaited(t *testing.T) {
	skipShort(t)
	c := kubecluster.ForTest(t, kubecluster.Options{})
	ns := c.NewNamespace(t)
	admins, kube := clientsFor(t, c.AdminConfig(), nil), kubeFor(t, c.AdminConfig())
	app, err := sparkfixture.Create(ctxFor(t), kube, admins.Dynamic, ns, sparkfixture.Spec{State: sparkfixture.StateRunning, PodTemplate: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := sparkfixture.Create(ctxFor(t), kube, admins.Dynamic, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	if err != nil {
		t.Fatal(err)
	}
	w := clientsFor(t, c.AdminConfig(), nil)
	done := make(chan struct{})
	var res *hook.Result
	go func() {
		defer close(done)
		res, err = hook.Watch(context.Background(), w, testLog(t), hook.WatchOptions{Namespace: ns, Pod: app.DriverPod})
	}()
	time.Sleep(time.Second)
	if err := c.RestartAPIServer(ctxFor(t), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatalf("watch returned while the driver ran: %v", err)
	case <-time.After(time.Second):
	}
	p, gerr := kube.CoreV1().Pods(ns).Get(ctxFor(t), app.DriverPod, metav1.GetOptions{})
	if gerr != nil {
		t.Fatal(gerr)
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: rule.DefaultDriverContainer, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.Now()}}}}
	if _, err := kube.CoreV1().Pods(ns).UpdateStatus(ctxFor(t), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("watch did not clean up within two minutes of the driver ending")
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Deleted); !equal(got, sorted(app.MapNames())) {
		t.Fatalf("deleted %v, want %v", got, app.MapNames())
	}
	list, _ := kube.CoreV1().ConfigMaps(ns).List(ctxFor(t), metav1.ListOptions{})
	if len(list.Items) < len(other.MapNames()) {
		t.Fatalf("the other application's maps went")
	}
}

func roleBinding(ns, sa string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "sparkcm-hook", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "sparkcm-hook"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}}
}
