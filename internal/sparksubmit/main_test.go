package sparksubmit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparksubmit"
)

// One control plane (etcd + kube-apiserver, no controller-manager: nothing
// garbage-collects behind the tests' back) for the whole Spark matrix, started
// by the first test that runs Spark; each version and mode works in its own
// namespace.
var (
	shared   = kubecluster.NewShared(kubecluster.Options{})
	cp       *kubecluster.ControlPlane // shared.Get's, set before the versions run
	installs []sparksubmit.Install
	// skipReason is set when Spark cannot run here (no Java 17 and no way
	// to install it): every test skips with it (fails under CI), none passes.
	skipReason string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(shared.RunMain(m)) // every test skips; nothing is started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	var err error
	installs, err = sparksubmit.Find(ctx)
	cancel()
	var unavailable *sparksubmit.UnavailableError
	switch {
	case errors.As(err, &unavailable):
		skipReason = unavailable.Reason
		os.Exit(shared.RunMain(m))
	case err != nil:
		fmt.Fprintln(os.Stderr, "find Spark:", err)
		os.Exit(1)
	}
	os.Exit(shared.RunMain(m))
}

// needSpark skips under -short; where Spark cannot run it skips saying why,
// or fails under CI (kubecluster.Require, the "spark" tier).
func needSpark(t *testing.T) {
	t.Helper()
	kubecluster.Require(t, "spark", skipReason)
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// hookBinary is the CLI under test: $SPARKCM_BIN (what `make test` built),
// else a fresh build.
func hookBinary(t *testing.T) string {
	t.Helper()
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
		dir, err := os.MkdirTemp("", "sparkbed-hook-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sparkcm-hook")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/sparkcm-hook")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/sparkcm-hook: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	// Stat it from the test process: go test's cache then keys on the binary
	// too, so a rebuilt binary at the same path runs the matrix again.
	if _, err := os.Stat(binPath); err != nil {
		t.Fatal(err)
	}
	return binPath
}

// hookRun is one run of the real binary.
type hookRun struct {
	args   []string
	code   int
	res    hook.Result
	stderr string
}

func (r hookRun) String() string {
	b, _ := json.Marshal(r.res)
	return fmt.Sprintf("sparkcm-hook %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, b, r.stderr)
}

// runHook runs the binary with -o json against the namespace's kubeconfig.
func runHook(ctx context.Context, t *testing.T, kubeconfig string, args ...string) hookRun {
	t.Helper()
	args = append([]string{"--kubeconfig", kubeconfig}, args...)
	args = append(args, "-o", "json")
	cmd := exec.CommandContext(ctx, hookBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	err := cmd.Run()
	r := hookRun{args: args[2:], stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run sparkcm-hook: %v", err)
	}
	if stdout.Len() > 0 {
		if err := json.Unmarshal(stdout.Bytes(), &r.res); err != nil {
			t.Fatalf("sparkcm-hook %v: stdout is not JSON: %v\n%s", args, err, stdout.String())
		}
	}
	return r
}

// namespace is one test namespace with an admin kubeconfig for the CLI and a
// token for Spark.
type namespace struct {
	name       string
	kubeconfig string
	target     sparksubmit.Target
}

func newNamespace(t *testing.T) namespace {
	t.Helper()
	ns := cp.NewNamespace(t)
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kc, cp.AdminConfig(), ns); err != nil {
		t.Fatal(err)
	}
	token, err := sparksubmit.SubmitToken(ctxFor(t, time.Minute), cp.Clientset(), ns, "spark", ns)
	if err != nil {
		t.Fatal(err)
	}
	return namespace{name: ns, kubeconfig: kc, target: sparksubmit.Target{Host: cp.Host(), Token: token}}
}

// object is what a snapshot keeps of one object. For a ConfigMap, content
// is everything in it but sparkcm-hook's own last-active stamp, and stamped
// whether it carries that stamp: a sweep that sees a client-mode
// application's executors run stamps its executor map, and nothing else
// may change.
type object struct {
	uid, rv, content string
	stamped          bool
}

// mapContent is a ConfigMap's data, labels, owners and annotations, its
// last-active stamp aside.
func mapContent(t *testing.T, cm *corev1.ConfigMap) (string, bool) {
	t.Helper()
	ann := maps.Clone(cm.Annotations)
	_, stamped := ann[rule.AnnotationLastActive]
	delete(ann, rule.AnnotationLastActive)
	if len(ann) == 0 {
		ann = nil // no annotations and only the stamp read alike
	}
	b, err := json.Marshal([]any{cm.Data, cm.BinaryData, cm.Labels, cm.OwnerReferences, ann})
	if err != nil {
		t.Fatal(err)
	}
	return string(b), stamped
}

// snapshot is every ConfigMap, Pod, Service and NetworkPolicy (Spark 4.x) of
// a namespace, by "Kind/name".
type snapshot map[string]object

func take(ctx context.Context, t *testing.T, ns string) snapshot {
	t.Helper()
	kube := cp.Clientset()
	s := snapshot{}
	cms, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range cms.Items {
		o := &cms.Items[i]
		content, stamped := mapContent(t, o)
		s["ConfigMap/"+o.Name] = object{uid: string(o.UID), rv: o.ResourceVersion, content: content, stamped: stamped}
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range pods.Items {
		s["Pod/"+o.Name] = object{uid: string(o.UID), rv: o.ResourceVersion}
	}
	svcs, err := kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range svcs.Items {
		s["Service/"+o.Name] = object{uid: string(o.UID), rv: o.ResourceVersion}
	}
	nps, err := kube.NetworkingV1().NetworkPolicies(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nps.Items {
		s["NetworkPolicy/"+o.Name] = object{uid: string(o.UID), rv: o.ResourceVersion}
	}
	return s
}

// onlyStamped says whether a ConfigMap changed only by gaining (or
// renewing) sparkcm-hook's last-active stamp.
func onlyStamped(before, after object) bool {
	return before.content != "" && after.uid == before.uid && after.content == before.content && after.stamped
}

// assertGone fails unless after is before without exactly the maps named:
// they are gone, and nothing else was deleted, changed (but for a map's
// last-active stamp) or added.
func assertGone(t *testing.T, before, after snapshot, maps []string) {
	t.Helper()
	want := map[string]object{}
	for k, v := range before {
		want[k] = v
	}
	for _, m := range maps {
		if _, ok := want["ConfigMap/"+m]; !ok {
			t.Errorf("ConfigMap %s was not there before", m)
		}
		delete(want, "ConfigMap/"+m)
	}
	for k, v := range want {
		if got, ok := after[k]; !ok {
			t.Errorf("%s was deleted", k)
		} else if got != v && !onlyStamped(v, got) {
			t.Errorf("%s was changed", k)
		}
	}
	for k := range after {
		if _, ok := want[k]; !ok {
			if _, was := before[k]; was {
				t.Errorf("%s is still there", k)
			} else {
				t.Errorf("%s appeared", k)
			}
		}
	}
}

// ownedMaps are the ConfigMaps owned by the Pod with uid, sorted by name.
func ownedMaps(ctx context.Context, t *testing.T, ns string, pod *corev1.Pod) []corev1.ConfigMap {
	t.Helper()
	list, err := cp.Clientset().CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.ConfigMap
	for _, m := range list.Items {
		for _, r := range m.OwnerReferences {
			if r.UID == pod.UID {
				out = append(out, m)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func names(maps []corev1.ConfigMap) []string {
	out := make([]string, len(maps))
	for i, m := range maps {
		out[i] = m.Name
	}
	return out
}

// labelled lists the maps and Pods labelled spark-app-selector=id.
func labelled(ctx context.Context, t *testing.T, ns, id, role string) ([]corev1.ConfigMap, []corev1.Pod) {
	t.Helper()
	sel := "spark-app-selector=" + id
	if role != "" {
		sel += ",spark-role=" + role
	}
	kube := cp.Clientset()
	cms, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	return cms.Items, pods.Items
}

// eventually polls cond every 200 ms until it holds or ctx ends.
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// ageBeyond waits out d and a margin, so that whatever was made or ended
// before the call is older than d for --older-than and --orphan-older-than.
// The tests wait for ages; they never assert how long anything took.
func ageBeyond(d time.Duration) {
	time.Sleep(d + 500*time.Millisecond)
}
