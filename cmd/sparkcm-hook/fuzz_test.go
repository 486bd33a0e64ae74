package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
)

// Fuzz targets for every way user input reaches the program: the command
// line (targets, app ids, object names, namespaces, durations, output
// formats), the SPARKCM_* environment, and kubeconfig contents. Each runs
// the whole program through RunContext against a stand-in API server that
// refuses every credential (401) and records what it was asked, so that an
// input can never change anything; the seed corpora live in testdata/fuzz.
//
// Whatever the input: no panic, a documented exit code, on failure one
// "error: " line last on stderr, and no request that writes.

// refusingServer answers /readyz with 200 and everything else with 401,
// and counts the requests that would write.
type refusingServer struct {
	srv    *httptest.Server
	writes atomic.Int64
	kc     string
}

var fuzzServer struct {
	once sync.Once
	s    *refusingServer
	dir  string
}

// stopRefusingServer stops the fuzz targets' server, if one started, and
// removes its kubeconfig.
func stopRefusingServer() {
	if fuzzServer.s != nil {
		fuzzServer.s.srv.Close()
		_ = os.RemoveAll(fuzzServer.dir)
	}
}

func refusing(_ testing.TB) *refusingServer {
	fuzzServer.once.Do(func() {
		s := &refusingServer{}
		s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				s.writes.Add(1)
			}
			if r.URL.Path == "/readyz" {
				_, _ = w.Write([]byte("ok"))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
		}))
		dir, err := os.MkdirTemp("", "sparkcm-fuzz-")
		if err != nil {
			panic(err)
		}
		fuzzServer.dir = dir
		s.kc = filepath.Join(dir, "kubeconfig")
		cfg := &rest.Config{Host: s.srv.URL, BearerToken: "fuzz", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
		if err := writeInsecureKubeconfig(s.kc, cfg); err != nil {
			panic(err)
		}
		fuzzServer.s = s
	})
	return fuzzServer.s
}

func writeInsecureKubeconfig(path string, cfg *rest.Config) error {
	kc := "apiVersion: v1\nkind: Config\nclusters:\n- name: fuzz\n  cluster:\n    server: " + cfg.Host + "\n    insecure-skip-tls-verify: true\n" +
		"users:\n- name: fuzz\n  user:\n    token: fuzz\ncontexts:\n- name: fuzz\n  context:\n    cluster: fuzz\n    user: fuzz\n    namespace: fuzz-ns\ncurrent-context: fuzz\n"
	return os.WriteFile(path, []byte(kc), 0o600)
}

// envNames are the variables the program reads.
var envNames = []string{
	"SPARKCM_KUBECONFIG", "SPARKCM_CONTEXT", "SPARKCM_NAMESPACE", "SPARKCM_QPS", "SPARKCM_BURST", "SPARKCM_LOG_FORMAT", "SPARKCM_V",
	"SPARKCM_SPARK_APP", "SPARKCM_DRIVER_POD", "SPARKCM_APP_ID", "SPARKCM_DRY_RUN", "SPARKCM_OUTPUT", "SPARKCM_TIMEOUT", "SPARKCM_WAIT",
	"SPARKCM_CONCURRENCY", "SPARKCM_NO_EVENT", "SPARKCM_ALL_NAMESPACES", "SPARKCM_OLDER_THAN", "SPARKCM_ORPHAN_OLDER_THAN",
	"SPARKCM_BATCH_SIZE", "SPARKCM_RETRY_BUDGET", "SPARKCM_POD", "POD_NAME", "POD_NAMESPACE", "SPARKCM_CONTAINER", "SPARKCM_GRACE", "KUBECONFIG",
}

// clearEnv unsets every variable the program reads, for the input's own.
func clearEnv(t testing.TB) {
	for _, n := range envNames {
		if v, ok := os.LookupEnv(n); ok {
			t.Cleanup(func() { _ = os.Setenv(n, v) })
			_ = os.Unsetenv(n)
		}
	}
}

// runInput runs the program once and checks what holds for every input.
func runInput(t *testing.T, s *refusingServer, args []string) (int, string) {
	before := s.writes.Load()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := RunContext(ctx, append([]string{"sparkcm-hook"}, args...), strings.NewReader(""), &out, &errOut)
	if code < exitcode.OK || code > exitcode.Running {
		t.Fatalf("args %q: exit %d is not documented", args, code)
	}
	stderr := strings.TrimSpace(errOut.String())
	if code != exitcode.OK {
		lines := strings.Split(stderr, "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "error: ") || strings.Count(stderr, "\nerror: ")+btoi(strings.HasPrefix(stderr, "error: ")) != 1 {
			t.Fatalf("args %q: exit %d without exactly one error line last on stderr: %q", args, code, stderr)
		}
	}
	if w := s.writes.Load() - before; w != 0 {
		t.Fatalf("args %q: %d request(s) that write reached the API server", args, w)
	}
	return code, stderr
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzCommandLine: one argument per line.
func FuzzCommandLine(f *testing.F) {
	for _, seed := range []string{
		"cleanup\n--spark-app\netl-1", "cleanup\n--driver-pod\nx-driver\n-n\nteam-a", "cleanup\n--app-id\nspark-0123456789abcdef",
		"cleanup\n--app-id\na,b", "cleanup\n--spark-app\nBad_Name", "sweep\n--older-than\n24h", "sweep\n--older-than\n-1h",
		"sweep\n--older-than\n1e9h", "sweep\n-A\n--older-than\n0s\n-o\ncsv", "sweep\n--older-than\n1h\n--orphan-older-than\n1m",
		"watch\n--pod\ndriver", "cleanup\n--spark-app\nx\n-o\nxml", "cleanup\n--spark-app\nx\n--wait\n-5s", "--namespace\n\ncleanup",
		"sweep\n--older-than\n1h\n--concurrency\n0", "sweep\n--older-than\n1h\n--qps\nNaN", "version", "--help", "bogus", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := refusing(t)
		clearEnv(t)
		_ = os.Setenv("KUBECONFIG", s.kc)
		args := strings.Split(in, "\n")
		for _, a := range args {
			if strings.HasPrefix(a, "--kubeconfig") || strings.HasPrefix(a, "--context") {
				t.Skip("another kubeconfig or context is FuzzKubeconfig's business")
			}
		}
		runInput(t, s, args)
	})
}

// FuzzEnvironment: one variable the program reads, any value.
func FuzzEnvironment(f *testing.F) {
	for i, v := range []string{"", "team-a", "Not_A_Namespace", "1h", "-1s", "abc", "0", "-3", "NaN", "true", "maybe", "json", "xml", "a,b", "spark-x", "/nonexistent"} {
		f.Add(uint8(i*7), v)
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		s := refusing(t)
		clearEnv(t)
		_ = os.Setenv("KUBECONFIG", s.kc)
		name := envNames[int(which)%len(envNames)]
		if name == "SPARKCM_KUBECONFIG" || name == "KUBECONFIG" || name == "SPARKCM_CONTEXT" {
			t.Skip("another kubeconfig or context is FuzzKubeconfig's business")
		}
		if strings.ContainsRune(value, 0) {
			t.Skip("an environment variable cannot hold NUL")
		}
		_ = os.Setenv(name, value)
		for _, cmd := range [][]string{{"cleanup"}, {"sweep"}, {"watch"}} {
			runInput(t, s, cmd)
		}
	})
}

// FuzzKubeconfig: any kubeconfig file; it points at the refusing server,
// at nowhere, or at nothing that parses.
func FuzzKubeconfig(f *testing.F) {
	nowhere := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: team-a\ncurrent-context: x\n"
	for _, seed := range []string{nowhere, strings.Replace(nowhere, "current-context: x", "current-context: missing", 1), strings.Replace(nowhere, "namespace: team-a", "namespace: Bad_NS", 1),
		strings.Replace(nowhere, "https://127.0.0.1:1", "REFUSING", 1), "", "{", "apiVersion: v1\nkind: Config\n", "clusters: 7", "\x00\xff\xfe", "users:\n- name: u\n  user:\n    client-certificate-data: bm90IGEgY2VydA==\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		s := refusing(t)
		clearEnv(t)
		for _, risky := range []string{"exec", "auth-provider", "command", "tokenFile", "token-file", "client-certificate:", "client-key:", "certificate-authority:"} {
			if bytes.Contains(content, []byte(risky)) {
				t.Skip("a kubeconfig that runs a program or reads a file of the machine")
			}
		}
		content = bytes.ReplaceAll(content, []byte("REFUSING"), []byte(s.srv.URL+"\n    insecure-skip-tls-verify: true"))
		kc := filepath.Join(t.TempDir(), "kubeconfig")
		if err := os.WriteFile(kc, content, 0o600); err != nil {
			t.Fatal(err)
		}
		// A kubeconfig that points nowhere is retried for the budget:
		// keep it short.
		for _, args := range [][]string{
			{"cleanup", "--kubeconfig", kc, "--spark-app", "etl-1", "--timeout", "300ms"},
			{"sweep", "--kubeconfig", kc, "--older-than", "1h", "--retry-budget", "300ms"},
		} {
			runInput(t, s, args)
		}
	})
}
