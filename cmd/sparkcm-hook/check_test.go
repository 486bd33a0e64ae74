package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/store"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
)

const (
	defects = "../../hook/lint/testdata/defects"
	clean   = "../../hook/lint/testdata/clean"
)

func TestCheckExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // a substring; "" for empty output
		stderr string
	}{
		{"findings exit 5 and are listed as file:line: rule", []string{"check", defects}, 5, "no-ttl.yaml:6: missing-ttl: ", "7 finding(s)"},
		{"a clean repository exits 0", []string{"check", clean}, 0, "", ""},
		{"flags after the paths, as in linters", []string{"check", clean, "-o", "json"}, 0, `"findings": []`, ""},
		{"a path that does not exist is usage", []string{"check", "no/such/dir"}, 2, "", "no such file"},
		{"no path is usage", []string{"check"}, 2, "", "check takes the files"},
		{"an unknown format is refused", []string{"check", "-o", "yaml", clean}, 2, "", `-o "yaml"`},
		{"a cluster flag is refused, not ignored", []string{"check", "-n", "jobs", clean}, 2, "", "--namespace does not apply"},
		{"a cluster flag before the command too", []string{"--kubeconfig", "/x", "check", clean}, 2, "", "--kubeconfig does not apply"},
		{"-A without --live is refused", []string{"check", "-A", clean}, 2, "", "--all-namespaces does not apply"},
		{"--retry-budget without --live is refused", []string{"check", "--retry-budget", "1s", clean}, 2, "", "--retry-budget does not apply"},
		{"--live takes --retry-budget as every command does", []string{"check", "--live", "--retry-budget", "0s"}, 2, "", "--retry-budget must be positive"},
		{"files and --live are exclusive", []string{"check", "--live", clean}, 2, "", "give files or --live, not both"},
		{"--live with -n and -A is refused", []string{"check", "--live", "-n", "jobs", "-A"}, 2, "", "give -n NAMESPACE or -A, not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr %s", r.code, tc.code, r.stderr)
			}
			if tc.stdout == "" && r.stdout != "" && tc.code != 0 || !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("stdout %q, want it to contain %q", r.stdout, tc.stdout)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tc.stderr)
			}
		})
	}
}

func TestCheckJSONListsEveryFindingWithItsRemedy(t *testing.T) {
	r := runCLI(t, "check", "-o", "json", defects)
	if r.code != 5 {
		t.Fatalf("exit %d, want 5; %s", r.code, r.stderr)
	}
	var doc struct {
		Files    int `json:"files"`
		Findings []struct {
			File, Rule, Message, Remedy string
			Line                        int
			Note                        bool
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	if doc.Files != 4 || len(doc.Findings) != 8 {
		t.Errorf("files %d, findings %d; want 4 and 8", doc.Files, len(doc.Findings))
	}
	for _, f := range doc.Findings {
		if f.File == "" || f.Line == 0 || f.Rule == "" || f.Message == "" || f.Remedy == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
}

func TestPolicyCommand(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"warn in the namespaces given", []string{"policy", "-n", "a,b"}, 0, []string{"kind: ValidatingAdmissionPolicy\n", "- Warn\n", "- a\n", "- b\n"}, ""},
		{"deny everywhere", []string{"policy", "-A", "--action", "deny"}, 0, []string{"- Deny\n"}, ""},
		{"a default TTL adds the mutating policy", []string{"policy", "-A", "--default-ttl", "24h"}, 0, []string{"kind: MutatingAdmissionPolicy\n", "timeToLiveSeconds: 86400"}, ""},
		{"no scope is usage", []string{"policy"}, 2, nil, "-n NAMESPACE"},
		{"-n and -A together are usage", []string{"policy", "-n", "a", "-A"}, 2, nil, ""},
		{"an unknown action is refused", []string{"policy", "-A", "--action", "block"}, 2, nil, `action "block"`},
		{"a TTL that is not whole seconds is refused", []string{"policy", "-A", "--default-ttl", "1500ms"}, 2, nil, "whole seconds"},
		{"a zero TTL is refused", []string{"policy", "-A", "--default-ttl", "0s"}, 2, nil, "must be positive"},
		{"a kubeconfig is refused, not ignored", []string{"policy", "-A", "--kubeconfig", "/x"}, 2, nil, "--kubeconfig does not apply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr %s", r.code, tc.code, r.stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			if tc.code != 0 && r.stdout != "" {
				t.Errorf("a refused run printed %q", r.stdout)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tc.stderr)
			}
		})
	}
}

// TestCheckLiveLintsTheApplicationsOfANamespace runs check --live against
// real SparkApplications on the control plane: the one without a TTL is the
// one finding, named after the object.
func TestCheckLiveLintsTheApplicationsOfANamespace(t *testing.T) {
	ns := cp.NewNamespace(t)
	createLintApp(t, ns, "no-ttl", nil)
	createLintApp(t, ns, "with-ttl", int64(3600))
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), "default")
	r := runCLI(t, "check", "--kubeconfig", kc, "--live", "-n", ns)
	if r.code != 5 {
		t.Fatalf("exit %d, want 5; stdout %q stderr %s", r.code, r.stdout, r.stderr)
	}
	want := "sparkapplication/" + ns + "/no-ttl: missing-ttl: "
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("stdout %q, want exactly one finding starting %q", r.stdout, want)
	}
	// The test bed serves no Apache operator: its group is skipped, aloud.
	if !strings.Contains(r.stderr, "does not serve it") || !strings.Contains(r.stderr, "spark.apache.org") {
		t.Errorf("stderr %q, want a warning that spark.apache.org is not served", r.stderr)
	}
}

// createLintApp creates a SparkApplication the carried CRD accepts, with
// spec.timeToLiveSeconds when ttl is not nil.
func createLintApp(t *testing.T, ns, name string, ttl any) {
	t.Helper()
	_, dyn := clients(t)
	spec := map[string]any{"type": "Scala", "mode": "cluster", "sparkVersion": "3.5.7", "mainApplicationFile": "local:///x.jar",
		"driver": map[string]any{}, "executor": map[string]any{}}
	if ttl != nil {
		spec["timeToLiveSeconds"] = ttl
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec}}
	if _, err := dyn.Resource(store.SparkApplicationGVR).Namespace(ns).Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// check --live needs only what rbac preflight --for check asks for: an
// account granted exactly that passes the preflight and gets its findings.
func TestCheckLiveRunsWithItsPreflightRoleAlone(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	createLintApp(t, ns, "no-ttl", nil)
	rules := hook.RulesFor(func(a hook.Access) bool { return !a.Optional }, hook.PermissionsFor(hook.CommandCheck))
	kc := accountKubeconfig(t, ns, "linter", rules...)
	if r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "check"); r.code != exitcode.OK {
		t.Fatalf("preflight --for check: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "check", "--kubeconfig", kc, "--live"); r.code != exitcode.Findings || !strings.Contains(r.stdout, "sparkapplication/"+ns+"/no-ttl: missing-ttl") {
		t.Fatalf("check --live with its Role alone: exit %d, want 5\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "report"); r.code != exitcode.Forbidden {
		t.Fatalf("preflight --for report with check's list only: exit %d, want 3", r.code)
	}
}
