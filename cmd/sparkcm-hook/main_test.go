package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// The CLI is tested end to end through Run's own argument parsing, on a
// real control plane, with kubeconfig files like a user's. The control plane
// starts with the first test that needs it; the tests in usage_test.go need
// none and run under -short.
var cp = kubecluster.NewShared(kubecluster.Options{})

func TestMain(m *testing.M) {
	code := cp.RunMain(m)
	stopRefusingServer()
	os.Exit(code)
}

type run struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) run {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := RunContext(ctx, append([]string{"sparkcm-hook"}, args...), strings.NewReader(""), &out, &errOut)
	return run{code, out.String(), errOut.String()}
}

func kubeconfig(t *testing.T, cfg *rest.Config, ns string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubecluster.WriteKubeconfig(path, cfg, ns); err != nil {
		t.Fatal(err)
	}
	return path
}

func clients(t *testing.T) (kubernetes.Interface, dynamic.Interface) {
	cfg := cp.Get(t).AdminConfig()
	return kubernetes.NewForConfigOrDie(cfg), dynamic.NewForConfigOrDie(cfg)
}

func newApp(t *testing.T, ns string, spec sparkfixture.Spec) *sparkfixture.App {
	t.Helper()
	kube, dyn := clients(t)
	app, err := sparkfixture.Create(context.Background(), kube, dyn, ns, spec)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func mapCount(t *testing.T, ns string) int {
	kube, _ := clients(t)
	l, err := kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

func assertOneLine(t *testing.T, r run) {
	t.Helper()
	if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; lines != 1 || !strings.HasPrefix(r.stderr, "error: ") {
		t.Errorf("stderr is not one error line: %q", r.stderr)
	}
}

func TestBadInputIsOneLineExitTwoAndChangesNothing(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{Executors: 1})
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns)
	finished := cp.NewNamespace(t)
	done := newApp(t, finished, sparkfixture.Spec{})
	kcWithNS := kubeconfig(t, cp.Get(t).AdminConfig(), finished)
	before, beforeFinished := mapCount(t, ns), mapCount(t, finished)
	cases := map[string][]string{
		"selector-widening app id": {"cleanup", "--kubeconfig", kc, "--app-id", "a,b"},
		"negated app id":           {"cleanup", "--kubeconfig", kc, "--app-id", "x!=y"},
		"wildcard app id":          {"cleanup", "--kubeconfig", kc, "--app-id", "*"},
		"invalid pod name":         {"cleanup", "--kubeconfig", kc, "--driver-pod", "Bad_Name"},
		"two targets":              {"cleanup", "--kubeconfig", kc, "--app-id", app.AppID, "--spark-app", app.Name},
		"no target":                {"cleanup", "--kubeconfig", kc},
		"unknown flag":             {"cleanup", "--kubeconfig", kc, "--bogus"},
		"bad output":               {"cleanup", "--kubeconfig", kc, "--spark-app", app.Name, "-o", "xml"},
		"missing kubeconfig":       {"cleanup", "--kubeconfig", "/nonexistent/kubeconfig", "--spark-app", app.Name},
		"unknown context":          {"cleanup", "--kubeconfig", kc, "--context", "nope", "--spark-app", app.Name},
		"unknown namespace":        {"cleanup", "--kubeconfig", kc, "-n", "no-such-namespace", "--spark-app", app.Name},
		"invalid namespace":        {"cleanup", "--kubeconfig", kc, "-n", "Not_A_Namespace", "--spark-app", app.Name},
		"pod that is no driver":    {"cleanup", "--kubeconfig", kc, "--driver-pod", app.ExecutorPods[0]},
		"sweep without older-than": {"sweep", "--kubeconfig", kc},
		"sweep with -n and -A":     {"sweep", "--kubeconfig", kc, "-n", ns, "-A", "--older-than", "1h"},
		"bad log format":           {"cleanup", "--kubeconfig", kc, "--log-format", "xml", "--spark-app", app.Name},
		// An empty namespace is never the context's (ns, which holds a
		// finished application whose maps a fallback would delete).
		"empty -n before the command": {"-n", "", "cleanup", "--kubeconfig", kcWithNS, "--spark-app", done.Name},
		"empty -n after the command":  {"cleanup", "-n", "", "--kubeconfig", kcWithNS, "--spark-app", done.Name},
		"empty --namespace= form":     {"cleanup", "--namespace=", "--kubeconfig", kcWithNS, "--spark-app", done.Name},
		"empty -n for sweep":          {"sweep", "-n", "", "--kubeconfig", kcWithNS, "--older-than", "0s"},
		// A value that would be replaced, or a second namespace that
		// would be dropped, is refused before anything is read.
		"zero orphan bound":           {"sweep", "--kubeconfig", kcWithNS, "--older-than", "0s", "--orphan-older-than", "0s"},
		"cleanup with two namespaces": {"cleanup", "--kubeconfig", kc, "-n", ns, "-n", finished, "--spark-app", done.Name},
		"exclusion without -A":        {"sweep", "--kubeconfig", kcWithNS, "--exclude-namespaces", ns, "--older-than", "0s"},
	}
	check := func(t *testing.T, args ...string) {
		r := runCLI(t, args...)
		if r.code != exitcode.Usage {
			t.Fatalf("exit %d, want %d; stderr %q", r.code, exitcode.Usage, r.stderr)
		}
		assertOneLine(t, r)
		if mapCount(t, ns) != before || mapCount(t, finished) != beforeFinished {
			t.Fatal("bad input changed a namespace")
		}
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) { check(t, args...) })
	}
	for name, args := range map[string][]string{
		"empty SPARKCM_NAMESPACE for cleanup": {"cleanup", "--kubeconfig", kcWithNS, "--spark-app", done.Name},
		"empty SPARKCM_NAMESPACE for sweep":   {"sweep", "--kubeconfig", kcWithNS, "--older-than", "0s"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("SPARKCM_NAMESPACE", "")
			check(t, args...)
		})
	}
}

func TestCleanupCLIPrintsJSONResultAndExitsZero(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns) // namespace from the context
	r := runCLI(t, "cleanup", "--kubeconfig", kc, "--driver-pod", app.DriverPod, "-o", "json", "--log-format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The document docs/commands.md describes: the entries, then the summary.
	var res struct {
		Entries []struct {
			Name, UID, Decision string
		} `json:"entries"`
		Namespace string   `json:"namespace"`
		AppIDs    []string `json:"appIds"`
		Counts    struct {
			Deleted, Skipped, Failed *int
		} `json:"counts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("stdout is not the JSON result: %v\n%s", err, r.stdout)
	}
	if res.Namespace != ns || len(res.AppIDs) != 1 || res.AppIDs[0] != app.AppID || len(res.Entries) != len(app.Maps) ||
		res.Counts.Deleted == nil || *res.Counts.Deleted != len(app.Maps) || res.Counts.Skipped == nil || res.Counts.Failed == nil {
		t.Fatalf("result %+v", res)
	}
	for _, d := range res.Entries {
		if d.Name == "" || d.UID == "" || d.Decision != "deleted" {
			t.Fatalf("entry without name or uid, or not deleted: %+v", d)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("--log-format json wrote a non-JSON log line: %q", line)
		}
	}
}

func TestEveryFlagCanComeFromTheEnvironment(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	t.Setenv("SPARKCM_KUBECONFIG", kubeconfig(t, cp.Get(t).AdminConfig(), ""))
	t.Setenv("SPARKCM_NAMESPACE", ns)
	t.Setenv("SPARKCM_SPARK_APP", app.Name)
	t.Setenv("SPARKCM_DRY_RUN", "true")
	t.Setenv("SPARKCM_OUTPUT", "yaml")
	r := runCLI(t, "cleanup")
	if r.code != 0 || !strings.Contains(r.stdout, "dryRun: true") || !strings.Contains(r.stdout, app.DriverConfMap) {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if mapCount(t, ns) != len(app.Maps) {
		t.Fatal("dry run from the environment deleted maps")
	}
}

func TestGlobalFlagsWorkBeforeOrAfterTheCommand(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), "")
	for _, args := range [][]string{
		{"-n", ns, "--kubeconfig", kc, "cleanup", "--spark-app", app.Name, "--dry-run"},
		{"cleanup", "-n", ns, "--kubeconfig", kc, "--spark-app", app.Name, "--dry-run"},
	} {
		if r := runCLI(t, args...); r.code != 0 || !strings.Contains(r.stdout, app.DriverConfMap) {
			t.Fatalf("%v: exit %d %s %s", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestSweepCLISweepsEveryNamespaceGivenAndTheFlagOverridesTheEnvironment(t *testing.T) {
	a, b, fromEnv := cp.NewNamespace(t), cp.NewNamespace(t), cp.NewNamespace(t)
	for _, ns := range []string{a, b, fromEnv} {
		newApp(t, ns, sparkfixture.Spec{})
	}
	// SPARKCM_NAMESPACE names a namespace the command line does not: the
	// flag overrides it, as every flag does its variable.
	t.Setenv("SPARKCM_NAMESPACE", fromEnv)
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), "")
	r := runCLI(t, "-n", a, "sweep", "-n", b, "--kubeconfig", kc, "--older-than", "0s", "-o", "json")
	if r.code != exitcode.OK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if mapCount(t, a) != 0 || mapCount(t, b) != 0 {
		t.Fatalf("left %d maps in %s and %d in %s; want both swept", mapCount(t, a), a, mapCount(t, b), b)
	}
	if mapCount(t, fromEnv) == 0 {
		t.Fatal("swept the namespace of SPARKCM_NAMESPACE although -n was given")
	}
}

func TestCleanupCLIExitsFourForARunningApplication(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	r := runCLI(t, "cleanup", "--kubeconfig", kubeconfig(t, cp.Get(t).AdminConfig(), ns), "--spark-app", app.Name)
	if r.code != exitcode.Running || !strings.Contains(r.stderr, "still running") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertOneLine(t, r)
}

func TestCLIExitsThreeWhenForbidden(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kube, _ := clients(t)
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := cp.Get(t).ServiceAccountConfig(context.Background(), ns, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	kc := kubeconfig(t, cfg, ns)
	for _, args := range [][]string{{"cleanup", "--kubeconfig", kc, "--spark-app", app.Name}, {"sweep", "--kubeconfig", kc, "--older-than", "0s"}} {
		r := runCLI(t, args...)
		if r.code != exitcode.Forbidden || !strings.Contains(r.stderr, "system:serviceaccount:"+ns+":nobody") {
			t.Fatalf("%v: exit %d: %s", args[0], r.code, r.stderr)
		}
		assertOneLine(t, r)
	}
	if mapCount(t, ns) < len(app.Maps) {
		t.Fatal("maps deleted without permission")
	}
}

func TestSweepCLIWritesACSVLedger(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	r := runCLI(t, "sweep", "--kubeconfig", kubeconfig(t, cp.Get(t).AdminConfig(), ns), "--older-than", "0s", "-o", "csv")
	if r.code != 0 {
		t.Fatalf("exit %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if lines[0] != "namespace,name,uid,kind,app_id,age,decision,reason" || len(lines) != 1+len(app.Maps) {
		t.Fatalf("ledger:\n%s", r.stdout)
	}
	for _, l := range lines[1:] {
		if !strings.Contains(l, ",deleted,") || !strings.Contains(l, app.AppID) {
			t.Fatalf("ledger line %q", l)
		}
	}
}

// report -o json says what sweep --dry-run does with the same scope and
// --older-than, in counts, and changes nothing; every format prints.
func TestReportCLICountsWhatSweepDryRunDecidesAndDeletesNothing(t *testing.T) {
	ns := cp.NewNamespace(t)
	newApp(t, ns, sparkfixture.Spec{PodTemplate: true})
	newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true})
	newApp(t, ns, sparkfixture.Spec{State: sparkfixture.StateRunning})
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns)
	before := mapCount(t, ns)
	dry := runCLI(t, "sweep", "--kubeconfig", kc, "--older-than", "0s", "--dry-run", "-o", "json")
	if dry.code != exitcode.OK {
		t.Fatalf("sweep --dry-run: exit %d: %s", dry.code, dry.stderr)
	}
	var ledger hook.Result
	if err := json.Unmarshal([]byte(dry.stdout), &ledger); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "report", "--kubeconfig", kc, "--sizes", "-o", "json")
	if r.code != exitcode.OK {
		t.Fatalf("report: exit %d: %s", r.code, r.stderr)
	}
	var rep hook.ReportResult
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.WouldDelete != ledger.Counts.Deleted || rep.Total.Kept != ledger.Counts.Skipped || rep.Total.Failed != ledger.Counts.Failed || rep.Total.WouldDelete == 0 {
		t.Fatalf("report %+v, sweep --dry-run %+v", rep.Total, ledger.Counts)
	}
	for _, format := range []string{"text", "yaml", "markdown"} {
		if r := runCLI(t, "report", "--kubeconfig", kc, "-o", format); r.code != exitcode.OK || !strings.Contains(r.stdout, "no-ttl") {
			t.Errorf("-o %s: exit %d, no cause in\n%s%s", format, r.code, r.stdout, r.stderr)
		}
	}
	if after := mapCount(t, ns); after != before {
		t.Fatalf("report changed the maps: %d before, %d after", before, after)
	}
}
