package helm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// quickstartBlock is one README code block marked "```sh quickstart".
type quickstartBlock struct {
	line int // of the block's first command
	text string
}

// quickstartBlocks reads the README's blocks whose info string is "sh quickstart", in order.
func quickstartBlocks(t *testing.T) []quickstartBlock {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		out []quickstartBlock
		cur *quickstartBlock
	)
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```") && slices.Equal(strings.Fields(line[3:]), []string{"sh", "quickstart"}):
			cur = &quickstartBlock{line: i + 2}
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("README.md: the quickstart block from line %d is never closed", cur.line-1)
	}
	return out
}

// TestREADMEQuickstartRunsAsWrittenOnARealCluster runs the README's quickstart blocks, word for
// word, with bash against the real API server: the preflight, the dry-run sweep that writes the
// ledger, jq over the ledger, helm install of the packaged chart as a dry run and helm upgrade
// that switches deletion on. A renamed flag, a wrong ledger path or a wrong value key fails here.
func TestREADMEQuickstartRunsAsWrittenOnARealCluster(t *testing.T) {
	hook, helm := sparkcmHook(t), helmBinary(t)
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Fatalf("the quickstart reads the ledger with jq: %v", err)
	}
	blocks := quickstartBlocks(t)
	if len(blocks) < 3 {
		t.Fatalf("found %d quickstart blocks in README.md, want the preflight and dry run, the install and the switch", len(blocks))
	}

	c := cp.Get(t)
	ctx := testContext(t)
	ns := c.NewNamespace(t)
	admin := c.Clientset()
	finished, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	running, err := sparkfixture.Create(ctx, admin, c.Dynamic(), ns, sparkfixture.Spec{State: sparkfixture.StateRunning, Executors: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := configMapUIDs(ctx, t, admin, ns)

	// The README's variables, set the way its export line sets them; the maps were made just now,
	// so they are old enough only at 0s.
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"sparkcm-hook": hook, "helm": helm, "jq": jq} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	chartOut := filepath.Join(tmp, "dist")
	if _, err := runHelm(t, "package", chartDir, "--destination", chartOut); err != nil {
		t.Fatal(err)
	}
	charts, _ := filepath.Glob(filepath.Join(chartOut, "sparkcm-hook-*.tgz"))
	if len(charts) != 1 {
		t.Fatalf("helm package made %v, want one chart", charts)
	}
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := kubecluster.WriteKubeconfig(kubeconfig, c.AdminConfig(), ""); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(tmp, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + tmp,
		"KUBECONFIG=" + kubeconfig,
		"HELM_CACHE_HOME=" + filepath.Join(tmp, "helm", "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(tmp, "helm", "config"),
		"HELM_DATA_HOME=" + filepath.Join(tmp, "helm", "data"),
		"NS=" + ns,
		"CHART=" + charts[0],
		"OLDER_THAN=0s",
	}

	for _, b := range blocks {
		runCtx, cancel := context.WithTimeout(ctx, time.Minute)
		cmd := exec.CommandContext(runCtx, "bash", "-euo", "pipefail", "-c", b.text)
		cmd.Dir, cmd.Env = work, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		cancel()
		t.Logf("README.md:%d:\n%s-> %v\n%s", b.line, b.text, err, out.String())
		if err != nil {
			t.Fatalf("README.md:%d: the quickstart block fails: %v\n%s", b.line, err, out.String())
		}
		if strings.Contains(b.text, "helm install") && !cronJobDryRun(ctx, t, c, ns) {
			t.Errorf("README.md:%d: the chart was installed without --dry-run in its CronJob's args", b.line)
		}
	}

	// The ledger the quickstart wrote names the finished application's maps as would-delete and
	// none of the running one's; the dry run and the dry-run install deleted nothing.
	raw, err := os.ReadFile(filepath.Join(work, "ledger.json"))
	if err != nil {
		t.Fatalf("the quickstart wrote no ledger.json: %v", err)
	}
	var ledger struct {
		Entries []struct{ Name, Decision string }
	}
	if err := json.Unmarshal(raw, &ledger); err != nil {
		t.Fatalf("ledger.json: %v\n%s", err, raw)
	}
	decision := map[string]string{}
	for _, e := range ledger.Entries {
		decision[e.Name] = e.Decision
	}
	for _, name := range finished.MapNames() {
		if decision[name] != "would-delete" {
			t.Errorf("ledger: %s is %q, want would-delete (the finished application's map)", name, decision[name])
		}
	}
	for _, name := range running.MapNames() {
		if decision[name] == "would-delete" {
			t.Errorf("ledger: %s is would-delete, but its application is running", name)
		}
	}
	after := configMapUIDs(ctx, t, admin, ns)
	for name, uid := range before {
		if after[name] != uid {
			t.Errorf("ConfigMap %s changed or went during the quickstart's dry runs", name)
		}
	}
	if cronJobDryRun(ctx, t, c, ns) {
		t.Error("after the quickstart's last step the CronJob still runs the sweep with --dry-run")
	}
}

// cronJobDryRun reports whether the release's one CronJob runs the sweep with --dry-run.
func cronJobDryRun(ctx context.Context, t *testing.T, c *kubecluster.ControlPlane, ns string) bool {
	t.Helper()
	list, err := c.Clientset().BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d CronJobs in %s, want the chart's one", len(list.Items), ns)
	}
	args := list.Items[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "sweep") {
		t.Fatalf("the CronJob's args %v run no sweep", args)
	}
	return slices.Contains(args, "--dry-run")
}
