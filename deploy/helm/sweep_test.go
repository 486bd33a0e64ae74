package helm_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// sparkcmHook returns the CLI: $SPARKCM_BIN (what `make test` built), else a fresh build.
func sparkcmHook(t *testing.T) string {
	t.Helper()
	kubecluster.SkipIfShort(t)
	binOnce.Do(func() {
		if p := os.Getenv("SPARKCM_BIN"); p != "" {
			binPath = p
			return
		}
		root, err := kubecluster.RepoRoot()
		if err != nil {
			binErr = err
			return
		}
		dir, err := os.MkdirTemp("", "sparkcm-hook-chart-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sparkcm-hook")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sparkcm-hook")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = errors.New("go build ./cmd/sparkcm-hook: " + err.Error() + "\n" + string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// runLikeCronJob runs the CLI the way the CronJob's Pod would: the container's args and env
// exactly as rendered (a field reference to metadata.namespace becomes the Pod's namespace),
// with the ServiceAccount's token in place of the mounted one. Nothing else from the test's
// environment reaches it.
func runLikeCronJob(t *testing.T, cj *batchv1.CronJob, kubeconfig string) (code int, stdout, stderr string) {
	t.Helper()
	return runLikePod(t, cj.Namespace, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0], kubeconfig)
}

// runLikePod runs one rendered container's args and env as runLikeCronJob
// does, in a Pod of namespace ns.
func runLikePod(t *testing.T, ns string, c corev1.Container, kubeconfig string) (code int, stdout, stderr string) {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "SPARKCM_KUBECONFIG=" + kubeconfig}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+ns)
		default:
			t.Fatalf("env %s: the test cannot resolve %+v", e.Name, e.ValueFrom)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sparkcmHook(t), c.Args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run %v: %v", c.Args, err)
	}
	t.Logf("sparkcm-hook %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(c.Args, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// configMapUIDs lists the namespace's ConfigMaps by name.
func configMapUIDs(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns string) map[string]types.UID {
	t.Helper()
	list, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.UID{}
	for _, cm := range list.Items {
		m[cm.Name] = cm.UID
	}
	return m
}

func TestChartCronJobSweepsAsItsServiceAccountAndStopsWithoutItsRoleBinding(t *testing.T) {
	c := cp.Get(t)
	ctx := testContext(t)
	ns := c.NewNamespace(t)
	admin := c.Clientset()

	// --older-than 0s: the maps made just now count as old enough.
	objs := render(t, "sparkcm-hook", ns, "sweep.olderThan=0s")
	cj := typed[batchv1.CronJob](t, one(t, objs, "CronJob"))
	dry := typed[batchv1.CronJob](t, one(t, render(t, "sparkcm-hook", ns, "sweep.olderThan=0s", "sweep.dryRun=true"), "CronJob"))
	apply(ctx, t, c.AdminConfig(), objs)

	finished, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{Executors: 1, UserSparkConfigMap: "team-spark-defaults"})
	if err != nil {
		t.Fatal(err)
	}
	running, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	unrelated := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-settings"}, Data: map[string]string{"k": "v"}}
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, unrelated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := configMapUIDs(ctx, t, admin, ns)
	mustKeep := append([]string{"app-settings", "team-spark-defaults"}, running.MapNames()...)
	leftovers := finished.MapNames()
	if len(leftovers) < 2 {
		t.Fatalf("fixture made %v, want the driver and executor conf maps", leftovers)
	}

	saCfg, saKube := serviceAccountClient(ctx, t, c, objs)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kubeconfig, saCfg, ""); err != nil {
		t.Fatal(err)
	}

	// The dry-run switch: a full report, no delete.
	if code, stdout, _ := runLikeCronJob(t, dry, kubeconfig); code != 0 {
		t.Fatalf("dry-run sweep exit %d, want 0", code)
	} else {
		for _, name := range leftovers {
			if !strings.Contains(stdout, name) {
				t.Errorf("dry-run ledger does not mention leftover %s", name)
			}
		}
	}
	if after := configMapUIDs(ctx, t, admin, ns); len(after) != len(before) {
		t.Fatalf("dry run changed the ConfigMaps: before %v, after %v", before, after)
	}

	// The CronJob's command as its ServiceAccount: the finished application's maps go, the rest stay.
	code, stdout, _ := runLikeCronJob(t, cj, kubeconfig)
	if code != 0 {
		t.Fatalf("sweep exit %d, want 0", code)
	}
	after := configMapUIDs(ctx, t, admin, ns)
	for _, name := range leftovers {
		if _, ok := after[name]; ok {
			t.Errorf("leftover %s of finished application %s is still there", name, finished.Name)
		}
		if !strings.Contains(stdout, name) {
			t.Errorf("ledger does not mention %s", name)
		}
	}
	for _, name := range mustKeep {
		if after[name] != before[name] {
			t.Errorf("ConfigMap %s was deleted or replaced (uid %s -> %s)", name, before[name], after[name])
		}
	}

	// New leftovers, and the RoleBinding gone: the same command is refused with exit code 3
	// and touches nothing.
	again, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	rb := one(t, objs, "RoleBinding")
	if err := admin.RbacV1().RoleBindings(ns).Delete(ctx, rb.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDenied(ctx, t, saKube, ns)
	before = configMapUIDs(ctx, t, admin, ns)

	code, _, stderr := runLikeCronJob(t, cj, kubeconfig)
	if code != 3 {
		t.Fatalf("sweep without its RoleBinding: exit %d, want 3 (forbidden)", code)
	}
	if !strings.Contains(strings.ToLower(stderr), "forbidden") {
		t.Errorf("stderr does not say forbidden:\n%s", stderr)
	}
	after = configMapUIDs(ctx, t, admin, ns)
	if len(after) != len(before) {
		t.Errorf("a refused sweep changed the ConfigMaps: before %v, after %v", before, after)
	}
	for _, name := range again.MapNames() {
		if after[name] == "" || after[name] != before[name] {
			t.Errorf("leftover %s deleted by a sweep without permission", name)
		}
	}
}

// waitDenied waits until the authorizer, which learns of RBAC changes through a watch, no longer
// lets the ServiceAccount list ConfigMaps in ns.
func waitDenied(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "list", Resource: "configmaps", Namespace: ns,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return !r.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("ServiceAccount still allowed to list configmaps in %s after its RoleBinding was deleted: %v", ns, err)
	}
}
