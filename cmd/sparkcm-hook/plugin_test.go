package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// The real kubectl finds the binary installed as kubectl-sparkcm on PATH
// (what krew does: a symlink in its bin folder) and runs it for `kubectl
// sparkcm ...`; the plugin then names itself the way it was called.
func TestRealKubectlRunsTheBinaryAsThePluginKubectlSparkcm(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kubectl and the built binary")
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed to prove plugin discovery: %v", err)
	}
	bin := pluginTestBinary(t)
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "kubectl-sparkcm")); err != nil {
		t.Fatal(err)
	}
	own, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	wantVersion := strings.Replace(string(own), "sparkcm-hook ", "kubectl sparkcm ", 1)

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     func(stdout, stderr string) bool
	}{
		{"version", []string{"sparkcm", "version"}, exitcode.OK, func(o, e string) bool { return o == wantVersion && e == "" }},
		{"help", []string{"sparkcm", "--help"}, exitcode.OK, func(o, _ string) bool {
			return strings.Contains(o, "kubectl sparkcm [global options] command") && !strings.Contains(o, "sparkcm-hook [global")
		}},
		{"an unknown flag", []string{"sparkcm", "sweep", "--bogus"}, exitcode.Usage, func(o, e string) bool {
			return o == "" && e == "error: flag provided but not defined: -bogus (see kubectl sparkcm sweep --help)\n"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(kubectl, tc.args...)
			// Only the plugin's folder and the system's: a kubectl-sparkcm
			// elsewhere on the developer's PATH must not answer instead.
			cmd.Env = []string{"PATH=" + dir + ":/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir()}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !tc.want(stdout.String(), stderr.String()) {
				t.Fatalf("kubectl %s: exit %d (want %d)\nstdout: %q\nstderr: %q", strings.Join(tc.args, " "), code, tc.wantCode, stdout.String(), stderr.String())
			}
		})
	}
}

// pluginTestBinary is $SPARKCM_BIN (make test-go's build, with its version
// stamps) or a fresh build.
func pluginTestBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SPARKCM_BIN"); bin != "" {
		if abs, err := filepath.Abs(bin); err == nil {
			return abs
		}
		return bin
	}
	root, err := kubecluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "sparkcm-hook")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sparkcm-hook")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
