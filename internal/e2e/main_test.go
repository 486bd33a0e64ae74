package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// One control plane with a node serves the package; the first test that
// needs it starts it, so -short and non-root runs start nothing.
var (
	cpOnce sync.Once
	cp     *kubecluster.ControlPlane
	cpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		cp.Stop()
	}
	os.Exit(code)
}

// node returns the shared control plane with its node, or skips the test
// with one line when no node can run here.
func node(t *testing.T) *kubecluster.ControlPlane {
	t.Helper()
	kubecluster.SkipWithoutNode(t)
	cpOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cp, cpErr = kubecluster.Start(ctx, kubecluster.Options{Node: true})
	})
	if cpErr != nil {
		t.Fatalf("start control plane with a node: %v", cpErr)
	}
	return cp
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// finishedAndRunning creates, the way Spark and the operator make them on
// the node, a finished application (driver and executor run to Succeeded;
// its SparkApplication names the user's map team-spark-defaults) and one
// whose driver still runs.
func finishedAndRunning(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, ns string) (finished, running *sparkfixture.App) {
	t.Helper()
	finished, err := sparkfixture.Create(ctx, c.Clientset(), c.Dynamic(), ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, Executors: 1, UserSparkConfigMap: "team-spark-defaults"})
	if err != nil {
		t.Fatal(err)
	}
	running, err = sparkfixture.Create(ctx, c.Clientset(), c.Dynamic(), ns, sparkfixture.Spec{NodeImage: kubecluster.StubImage, State: sparkfixture.StateRunning, Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	return finished, running
}

// mapUIDs lists the namespace's ConfigMaps by name (kube-root-ca.crt left out).
func mapUIDs(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns string) map[string]types.UID {
	t.Helper()
	list, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]types.UID{}
	for _, cm := range list.Items {
		if cm.Name != "kube-root-ca.crt" {
			m[cm.Name] = cm.UID
		}
	}
	return m
}

func sortedKeys(m map[string]types.UID) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// grantDocumentedRole binds the README's RBAC table to a ServiceAccount in ns.
func grantDocumentedRole(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns, sa string) {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "sparkcm-hook"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"sparkoperator.k8s.io"}, Resources: []string{"sparkapplications"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
		},
	}
	if _, err := kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sparkcm-hook"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}},
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// containerLog reads a container's log from the node.
func containerLog(t *testing.T, c *kubecluster.ControlPlane, pod *corev1.Pod, container string) string {
	t.Helper()
	out, err := c.ContainerLog(pod.Namespace, pod.Name, pod.UID, container)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// terminated returns a container's terminated state in a Pod's status.
func terminated(pod *corev1.Pod, container string) *corev1.ContainerStateTerminated {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, s := range list {
			if s.Name == container {
				return s.State.Terminated
			}
		}
	}
	return nil
}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helm runs the real helm CLI ($SPARKCM_HELM, else the one hack/helm.sh
// builds) with its own empty home folders.
func helm(t *testing.T, args ...string) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("SPARKCM_HELM"); p != "" {
			helmPath = p
			return
		}
		root, err := kubecluster.RepoRoot()
		if err != nil {
			helmErr = err
			return
		}
		out, err := exec.Command(filepath.Join(root, "hack", "helm.sh")).Output()
		helmPath, helmErr = strings.TrimSpace(string(out)), err
	})
	if helmErr != nil {
		t.Fatalf("hack/helm.sh: %v", helmErr)
	}
	home := t.TempDir()
	cmd := exec.Command(helmPath, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func adminKubeconfig(t *testing.T, c *kubecluster.ControlPlane) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(p, c.AdminConfig(), ""); err != nil {
		t.Fatal(err)
	}
	return p
}

func describe(pod *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s/%s phase %s", pod.Namespace, pod.Name, pod.Status.Phase)
	for _, s := range append(pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, "; %s %+v", s.Name, s.State)
	}
	return b.String()
}
