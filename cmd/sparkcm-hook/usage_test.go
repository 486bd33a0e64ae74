package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
)

// These tests need no cluster and run under -short: flags, validation and
// exit codes. Where a command must not reach a cluster, its kubeconfig points
// at an in-process server that counts every request it gets.

// apiServer is a stand-in that answers every request with a 403 (so that a
// command which wrongly reaches it stops at once) and counts them.
type apiServer struct {
	requests atomic.Int64
	url      string
}

func newAPIServer(t *testing.T, handler http.HandlerFunc) *apiServer {
	t.Helper()
	s := &apiServer{}
	if handler == nil {
		handler = func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			// Ready, as a running API server says to everyone: its 403s
			// are then RBAC's word, not those of a server still starting.
			_, _ = fmt.Fprint(w, "ok")
			return
		}
		s.requests.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func TestBadInputIsOneLineExitTwoAndAsksNoAPIServer(t *testing.T) {
	srv := newAPIServer(t, nil)
	kc := kubeconfig(t, &rest.Config{Host: srv.url}, "jobs")
	missing := "/nonexistent/kubeconfig"
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the message: the input named, not a later failure
	}{
		{"selector-widening app id", []string{"cleanup", "--kubeconfig", kc, "--app-id", "a,b"}, nil, "a,b"},
		{"negated app id", []string{"cleanup", "--kubeconfig", kc, "--app-id", "x!=y"}, nil, "x!=y"},
		{"wildcard app id", []string{"cleanup", "--kubeconfig", kc, "--app-id", "*"}, nil, `"*"`},
		{"invalid pod name", []string{"cleanup", "--kubeconfig", kc, "--driver-pod", "Bad_Name"}, nil, "Bad_Name"},
		{"two targets", []string{"cleanup", "--kubeconfig", kc, "--app-id", "spark-1", "--spark-app", "etl"}, nil, "exactly one of --spark-app, --driver-pod or --app-id"},
		{"no target", []string{"cleanup", "--kubeconfig", kc}, nil, "exactly one of"},
		{"unknown operator", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl", "--operator", "volcano"}, nil, `"volcano"`},
		{"unknown operator from the environment", []string{"cleanup", "--kubeconfig", kc, "--app-id", "spark-1"}, map[string]string{"SPARKCM_OPERATOR": "both"}, `"both"`},
		{"qualified name of another resource", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "pods/etl"}, nil, "pods/etl"},
		{"qualified name contradicting --operator", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "sparkapplications.spark.apache.org/etl", "--operator", "kubeflow"}, nil, "--operator says kubeflow"},
		{"qualified name, bad name", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "sparkapplications.spark.apache.org/Bad_Name"}, nil, "Bad_Name"},
		{"negative wait", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl", "--wait", "-1s"}, nil, "--wait"},
		{"unknown flag", []string{"cleanup", "--kubeconfig", kc, "--bogus"}, nil, "-bogus"},
		{"malformed duration", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl", "--timeout", "soon"}, nil, "soon"},
		{"malformed global flag before the command", []string{"--qps", "many", "cleanup", "--kubeconfig", kc, "--spark-app", "etl"}, nil, "many"},
		{"malformed boolean from the environment", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl"}, map[string]string{"SPARKCM_DRY_RUN": "maybe"}, "SPARKCM_DRY_RUN"},
		{"bad output", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl", "-o", "xml"}, nil, "xml"},
		{"bad log format", []string{"cleanup", "--kubeconfig", kc, "--log-format", "xml", "--spark-app", "etl"}, nil, "--log-format"},
		{"negative timeout", []string{"sweep", "--kubeconfig", kc, "--older-than", "1h", "--timeout", "-1s"}, nil, "--timeout"},
		{"no retry budget", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl", "--retry-budget", "0s"}, nil, "--retry-budget"},
		{"no concurrency", []string{"sweep", "--kubeconfig", kc, "--older-than", "1h", "--concurrency", "0"}, nil, "--concurrency"},
		{"an argument", []string{"sweep", "--kubeconfig", kc, "--older-than", "1h", "extra"}, nil, "extra"},
		{"invalid namespace", []string{"cleanup", "--kubeconfig", kc, "-n", "Not_A_Namespace", "--spark-app", "etl"}, nil, "Not_A_Namespace"},
		{"sweep without older-than", []string{"sweep", "--kubeconfig", kc}, nil, "--older-than"},
		{"sweep with -n and -A", []string{"sweep", "--kubeconfig", kc, "-n", "jobs", "-A", "--older-than", "1h"}, nil, "-A"},
		{"watch without a pod", []string{"watch", "--kubeconfig", kc}, nil, "--pod"},
		{"unknown command", []string{"clean", "--kubeconfig", kc}, nil, `"clean"`},
		{"help as a command", []string{"help", "clean"}, nil, `"help"`},
		// Validation comes before the configuration is read.
		{"sweep input checked before the kubeconfig", []string{"sweep", "--kubeconfig", missing}, nil, "--older-than"},
		{"cleanup input checked before the kubeconfig", []string{"cleanup", "--kubeconfig", missing, "--app-id", "a,b"}, nil, "a,b"},
		{"rbac -n and -A checked before the kubeconfig", []string{"rbac", "inventory", "--kubeconfig", missing, "-n", "jobs", "-A"}, nil, "-A"},
		{"who-can -n and -A checked before the kubeconfig", []string{"rbac", "who-can", "delete", "configmaps", "--kubeconfig", missing, "-n", "jobs", "-A"}, nil, "-A"},
		// The configuration, recognised by the errors' types.
		{"missing kubeconfig", []string{"cleanup", "--kubeconfig", missing, "--spark-app", "etl"}, nil, missing},
		{"unknown context", []string{"cleanup", "--kubeconfig", kc, "--context", "nope", "--spark-app", "etl"}, nil, `context "nope" not found`},
		// An empty namespace is an error, never the context's ("jobs").
		{"empty -n before the command", []string{"-n", "", "cleanup", "--kubeconfig", kc, "--spark-app", "etl"}, nil, "empty"},
		{"empty -n after the command", []string{"cleanup", "-n", "", "--kubeconfig", kc, "--spark-app", "etl"}, nil, "empty"},
		{"empty --namespace=", []string{"cleanup", "--namespace=", "--kubeconfig", kc, "--spark-app", "etl"}, nil, "empty"},
		{"empty -n for sweep", []string{"sweep", "-n", "", "--kubeconfig", kc, "--older-than", "1h"}, nil, "empty"},
		{"empty -n for watch", []string{"watch", "-n", "", "--kubeconfig", kc, "--pod", "etl-driver"}, nil, "empty"},
		{"empty -n for rbac preflight", []string{"rbac", "preflight", "-n", "", "--kubeconfig", kc}, nil, "empty"},
		{"empty SPARKCM_NAMESPACE", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl"}, map[string]string{"SPARKCM_NAMESPACE": ""}, "SPARKCM_NAMESPACE"},
		{"empty SPARKCM_NAMESPACE with -A", []string{"sweep", "--kubeconfig", kc, "-A", "--older-than", "1h"}, map[string]string{"SPARKCM_NAMESPACE": ""}, "empty"},
		// A value the library would replace by its default is refused,
		// never silently reinterpreted.
		{"zero orphan bound", []string{"sweep", "--kubeconfig", kc, "--older-than", "0s", "--orphan-older-than", "0s"}, nil, "--orphan-older-than must be positive"},
		{"zero orphan bound from the environment", []string{"sweep", "--kubeconfig", kc, "--older-than", "0s"}, map[string]string{"SPARKCM_ORPHAN_OLDER_THAN": "0s"}, "--orphan-older-than must be positive"},
		{"zero grace", []string{"watch", "--kubeconfig", kc, "--pod", "etl-driver", "--grace", "0s"}, nil, "--grace must be positive"},
		{"zero grace from the environment", []string{"watch", "--kubeconfig", kc, "--pod", "etl-driver"}, map[string]string{"SPARKCM_GRACE": "0s"}, "--grace must be positive"},
		// A command that acts in one namespace refuses several rather than
		// use one of them.
		{"cleanup with -n twice", []string{"cleanup", "--kubeconfig", kc, "-n", "a", "-n", "b", "--spark-app", "etl"}, nil, "-n was given 2: a, b"},
		{"cleanup with -n before and after the command", []string{"-n", "a", "cleanup", "--kubeconfig", kc, "-n", "b", "--spark-app", "etl"}, nil, "-n was given 2: a, b"},
		{"cleanup with a list of namespaces", []string{"cleanup", "--kubeconfig", kc, "-n", "a,b", "--spark-app", "etl"}, nil, "-n was given 2"},
		{"cleanup with a list in SPARKCM_NAMESPACE", []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl"}, map[string]string{"SPARKCM_NAMESPACE": "a,b"}, "-n was given 2"},
		{"watch with -n twice", []string{"watch", "--kubeconfig", kc, "-n", "a", "-n", "b", "--pod", "etl-driver"}, nil, "-n was given 2"},
		{"rbac preflight with -n twice", []string{"rbac", "preflight", "--kubeconfig", kc, "-n", "a", "-n", "b"}, nil, "-n was given 2"},
		{"sweep with several -n and -A", []string{"sweep", "--kubeconfig", kc, "-n", "a", "-n", "b", "-A", "--older-than", "1h"}, nil, "-A"},
		{"sweep with one bad namespace of several", []string{"sweep", "--kubeconfig", kc, "-n", "a,Bad_NS", "--older-than", "1h"}, nil, "Bad_NS"},
		{"exclusion without -A", []string{"sweep", "--kubeconfig", kc, "-n", "a", "--exclude-namespaces", "b", "--older-than", "1h"}, nil, "--exclude-namespaces"},
		{"invalid excluded namespace", []string{"sweep", "--kubeconfig", kc, "-A", "--exclude-namespaces", "Bad_NS", "--older-than", "1h"}, nil, "Bad_NS"},
		// report reads what sweep reads: the same scope and bounds, checked the same way.
		{"report with an output sweep has but report does not", []string{"report", "--kubeconfig", kc, "-o", "csv"}, nil, "csv"},
		{"report with -n and -A", []string{"report", "--kubeconfig", kc, "-n", "jobs", "-A"}, nil, "-A"},
		{"report with a negative older-than", []string{"report", "--kubeconfig", kc, "--older-than", "-1h"}, nil, "--older-than"},
		{"report with a zero orphan bound", []string{"report", "--kubeconfig", kc, "--orphan-older-than", "0s"}, nil, "--orphan-older-than must be positive"},
		{"report naming no application", []string{"report", "--kubeconfig", kc, "--top", "0"}, nil, "--top"},
		{"report with an argument", []string{"report", "--kubeconfig", kc, "extra"}, nil, "extra"},
		{"report exclusion without -A", []string{"report", "--kubeconfig", kc, "-n", "a", "--exclude-namespaces", "b"}, nil, "--exclude-namespaces"},
		{"report with one bad namespace of several", []string{"report", "--kubeconfig", kc, "-n", "a,Bad_NS"}, nil, "Bad_NS"},
		// controller: the same scope and bounds as sweep, and its own.
		{"controller with -n and -A", []string{"controller", "--kubeconfig", kc, "-n", "jobs", "-A"}, nil, "-A"},
		{"controller with a negative grace", []string{"controller", "--kubeconfig", kc, "--grace", "-1s"}, nil, "--grace"},
		{"controller with no resync period", []string{"controller", "--kubeconfig", kc, "--resync-period", "0s"}, nil, "--resync-period"},
		{"controller with no workers", []string{"controller", "--kubeconfig", kc}, map[string]string{"SPARKCM_WORKERS": "0"}, "--workers"},
		{"controller with a zero orphan bound", []string{"controller", "--kubeconfig", kc, "--orphan-older-than", "0s"}, nil, "--orphan-older-than must be positive"},
		{"controller with an orphan bound below older-than", []string{"controller", "--kubeconfig", kc, "--older-than", "2h", "--orphan-older-than", "1h"}, nil, "--orphan-older-than"},
		{"controller with one bad namespace of several", []string{"controller", "--kubeconfig", kc, "-n", "a,Bad_NS"}, nil, "Bad_NS"},
		{"controller with an argument", []string{"controller", "--kubeconfig", kc, "extra"}, nil, "extra"},
		{"controller with a bad lease name", []string{"controller", "--kubeconfig", kc, "--leader-elect", "--lease-name", "Bad_Name"}, nil, "Bad_Name"},
		{"controller with a bad lease namespace", []string{"controller", "--kubeconfig", kc, "--leader-elect", "--lease-namespace", "Bad_NS"}, nil, "Bad_NS"},
		{"controller electing with no identity", []string{"controller", "--kubeconfig", kc, "--leader-elect", "--identity="}, map[string]string{"POD_NAME": ""}, "--identity"},
		{"controller with a bad http address", []string{"controller", "--kubeconfig", kc, "--http-addr", "8080"}, nil, "--http-addr"},
		{"controller input checked before the kubeconfig", []string{"controller", "--kubeconfig", missing, "--grace", "-1s"}, nil, "--grace"},
		{"report input checked before the kubeconfig", []string{"report", "--kubeconfig", missing, "-o", "xml"}, nil, "xml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before := srv.requests.Load()
			r := runCLI(t, tc.args...)
			if r.code != exitcode.Usage {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, exitcode.Usage, r.stderr)
			}
			assertOneLine(t, r)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("message %q does not name %q", r.stderr, tc.want)
			}
			if n := srv.requests.Load() - before; n != 0 {
				t.Errorf("bad input sent %d API request(s)", n)
			}
		})
	}
}

// A non-empty -n, before or after the command or from the environment, is
// the namespace used: the stand-in sees it in the request path.
func TestNamespaceFlagIsUsedWhereverItIsGiven(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`)
	})
	kc := kubeconfig(t, &rest.Config{Host: srv.url}, "from-context")
	for name, tc := range map[string]struct {
		args []string
		env  string
	}{
		"before":      {args: []string{"-n", "given", "cleanup", "--kubeconfig", kc, "--spark-app", "etl"}},
		"after":       {args: []string{"cleanup", "-n", "given", "--kubeconfig", kc, "--spark-app", "etl"}},
		"environment": {args: []string{"cleanup", "--kubeconfig", kc, "--spark-app", "etl"}, env: "given"},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SPARKCM_NAMESPACE", tc.env)
			}
			mu.Lock()
			paths = nil
			mu.Unlock()
			r := runCLI(t, tc.args...)
			if r.code != exitcode.Forbidden {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range paths {
				if _, rest, ok := strings.Cut(p, "/namespaces/"); ok && rest != "given" && !strings.HasPrefix(rest, "given/") {
					t.Errorf("request to %s, want namespace %q", p, "given")
				}
			}
			if len(paths) == 0 {
				t.Error("no request reached the stand-in")
			}
		})
	}
}

func TestExitCodeFollowsTheErrorTypeNeverItsMessage(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"no error", nil, exitcode.OK},
		{"usage", hook.Usagef("bad target"), exitcode.Usage},
		{"wrapped usage", fmt.Errorf("cleanup: %w", hook.Usagef("bad target")), exitcode.Usage},
		{"forbidden", &hook.ForbiddenError{Verb: "delete", Resource: "configmaps", Err: apierrors.NewForbidden(gr, "x", errors.New("no"))}, exitcode.Forbidden},
		{"still running", fmt.Errorf("%w (use --wait)", &hook.StillRunningError{App: "etl", State: "RUNNING"}), exitcode.Running},
		{"partial failure", &hook.PartialFailureError{Failed: 2}, exitcode.Failed},
		{"who-can disagrees with the API server", fmt.Errorf("who-can: %w", &rbac.DisagreementError{Disagreements: 1}), exitcode.Disagrees},
		{"urfave/cli's own exit error", cli.Exit("No help topic for 'x'", 3), exitcode.Usage},
		// Messages that look like usage or config errors do not make one.
		{"server says invalid value", apierrors.NewBadRequest(`invalid value "x" for field y`), exitcode.Failed},
		{"plain error mentioning a flag", errors.New("flag provided but not defined: -x"), exitcode.Failed},
		{"plain error mentioning a context", errors.New(`context "nope" not found`), exitcode.Failed},
		{"deadline", context.DeadlineExceeded, exitcode.Failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err); got != tc.want {
				t.Fatalf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestCLIExitsOneWhenTheAPIServerStaysUnreachable(t *testing.T) {
	// Nothing listens there: connection refused, a transient failure.
	kc := kubeconfig(t, &rest.Config{Host: "https://127.0.0.1:1"}, "default")
	r := runCLI(t, "cleanup", "--kubeconfig", kc, "--spark-app", "x", "--timeout", "1s")
	if r.code != exitcode.Failed {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	assertOneLine(t, r)
}

// --timeout bounds the whole run in every command, whatever --retry-budget
// allows each call: against a server that never answers, each command ends
// by its own --timeout, long before the test's own limit.
func TestTimeoutBoundsTheWholeRunInEveryCommand(t *testing.T) {
	srv := newAPIServer(t, func(_ http.ResponseWriter, r *http.Request) {
		// Read the body first: net/http notices the client has gone (and
		// ends r's context) only once it has (access reviews are POSTs).
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	kc := kubeconfig(t, &rest.Config{Host: srv.url}, "jobs")
	bound := []string{"--kubeconfig", kc, "--timeout", "250ms", "--retry-budget", "1h"}
	for name, args := range map[string][]string{
		"cleanup": append([]string{"cleanup", "--spark-app", "etl"}, bound...),
		"sweep":   append([]string{"sweep", "--older-than", "1h"}, bound...),
		"watch":   append([]string{"watch", "--pod", "etl-driver", "--grace", "200ms"}, bound...),
		"report":  append([]string{"report"}, bound...),
		// Stopped before its informers started: a failure, not the end
		// of a run.
		"controller": append([]string{"controller"}, bound...),
		"adopt":      append([]string{"adopt"}, bound...),
		// rbac's commands run through the same options as every other.
		"rbac preflight": append([]string{"rbac", "preflight"}, bound...),
		"rbac inventory": append([]string{"rbac", "inventory"}, bound...),
		"rbac who-can":   append([]string{"rbac", "who-can", "delete", "configmaps"}, bound...),
		"check --live":   append([]string{"check", "--live"}, bound...),
	} {
		t.Run(name, func(t *testing.T) {
			code, errOut, outlasted := runWithinAMinute(args...)
			if outlasted {
				t.Fatalf("ran until the test's own limit: --timeout did not end it (exit %d: %s)", code, errOut.String())
			}
			if code != exitcode.Failed && code != exitcode.Running {
				t.Fatalf("exit %d, want %d or %d: %s", code, exitcode.Failed, exitcode.Running, errOut.String())
			}
		})
	}
}

// runWithinAMinute runs the command line args (without the program name)
// with a minute's limit of the test's own: its exit code, its stderr, and
// whether it ran until that limit.
func runWithinAMinute(args ...string) (int, *strings.Builder, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut strings.Builder
	code := RunContext(ctx, append([]string{"sparkcm-hook"}, args...), strings.NewReader(""), &out, &errOut)
	return code, &errOut, ctx.Err() != nil
}

// rbac preflight asks discovery whether the Apache operator's group is
// served once the access reviews have answered: a discovery that never
// answers must end with --timeout too.
func TestTimeoutBoundsRBACPreflightWhileDiscoveryIsSilent(t *testing.T) {
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/api" || r.URL.Path == "/apis":
			<-r.Context().Done() // discovery never answers
		case strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews"):
			_, _ = fmt.Fprint(w, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":true}}`)
		default: // who am I, the namespace: refused, which preflight tolerates
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`)
		}
	})
	kc := kubeconfig(t, &rest.Config{Host: srv.url}, "jobs")
	code, errOut, outlasted := runWithinAMinute("rbac", "preflight", "--kubeconfig", kc, "--timeout", "250ms")
	if outlasted {
		t.Fatalf("ran until the test's own limit: discovery outlasted --timeout (exit %d: %s)", code, errOut.String())
	}
}

// --retry-budget bounds each API call's retries in every command: against a
// server that answers every request 503 (transient, so retried), each
// command without --timeout gives up once its budget is spent and exits 1,
// long before the test's own limit.
func TestRetryBudgetBoundsEachCallInEveryCommand(t *testing.T) {
	srv := newAPIServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServiceUnavailable","code":503}`)
	})
	kc := kubeconfig(t, &rest.Config{Host: srv.url}, "jobs")
	budget := []string{"--kubeconfig", kc, "--retry-budget", "100ms"}
	for name, args := range map[string][]string{
		"cleanup":        append([]string{"cleanup", "--spark-app", "etl"}, budget...),
		"sweep":          append([]string{"sweep", "--older-than", "1h"}, budget...),
		"report":         append([]string{"report"}, budget...),
		"adopt":          append([]string{"adopt"}, budget...),
		"rbac preflight": append([]string{"rbac", "preflight"}, budget...),
		"rbac inventory": append([]string{"rbac", "inventory"}, budget...),
		"rbac who-can":   append([]string{"rbac", "who-can", "delete", "configmaps"}, budget...),
		"check --live":   append([]string{"check", "--live"}, budget...),
	} {
		t.Run(name, func(t *testing.T) {
			code, errOut, outlasted := runWithinAMinute(args...)
			if outlasted {
				t.Fatalf("ran until the test's own limit: --retry-budget did not end it (exit %d: %s)", code, errOut.String())
			}
			if code != exitcode.Failed {
				t.Fatalf("exit %d, want %d: %s", code, exitcode.Failed, errOut.String())
			}
		})
	}
}

// Flags after a command's arguments are read as if they came before them,
// by the command's own flag set: -o, -n and --help after who-can's VERB
// RESOURCE, and a flag the command does not take is refused there as
// anywhere.
func TestFlagsAfterTheArgumentsMeanWhatTheyMeanBefore(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		stream   func(r run) string
		want     string
	}{
		{"a value flag", []string{"rbac", "who-can", "delete", "configmaps", "-o", "xml"}, exitcode.Usage, func(r run) string { return r.stderr }, `-o "xml": want one of table|json`},
		{"a value flag with =", []string{"rbac", "who-can", "delete", "configmaps", "--output=xml"}, exitcode.Usage, func(r run) string { return r.stderr }, `-o "xml"`},
		{"a bool flag", []string{"rbac", "who-can", "delete", "configmaps", "-n", "jobs", "-A"}, exitcode.Usage, func(r run) string { return r.stderr }, "give -n NAMESPACE or -A, not both"},
		{"a global flag", []string{"rbac", "who-can", "delete", "configmaps", "--kubeconfig", missing}, exitcode.Usage, func(r run) string { return r.stderr }, "kubeconfig " + missing},
		{"an unknown flag", []string{"rbac", "who-can", "delete", "configmaps", "--bogus"}, exitcode.Usage, func(r run) string { return r.stderr }, "flag provided but not defined: --bogus (see sparkcm-hook rbac who-can --help)"},
		{"a flag without its value", []string{"rbac", "who-can", "delete", "configmaps", "--name"}, exitcode.Usage, func(r run) string { return r.stderr }, "flag needs an argument: --name"},
		{"a malformed value", []string{"rbac", "who-can", "delete", "configmaps", "--timeout", "soon"}, exitcode.Usage, func(r run) string { return r.stderr }, `invalid value "soon" for flag --timeout`},
		{"--help", []string{"rbac", "who-can", "delete", "configmaps", "--help"}, exitcode.OK, func(r run) string { return r.stdout }, "sparkcm-hook rbac who-can VERB RESOURCE"},
		{"after --, an argument", []string{"check", t.TempDir(), "--", "-o"}, exitcode.Usage, func(r run) string { return r.stderr }, "-o: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != tc.wantCode || !strings.Contains(tc.stream(r), tc.want) {
				t.Fatalf("exit %d (want %d); want %q in\nstdout: %s\nstderr: %s", r.code, tc.wantCode, tc.want, r.stdout, r.stderr)
			}
		})
	}
}

func TestVersionPrintsTheVersionCommitAndBuildDate(t *testing.T) {
	defer func(v, c, d string) { version, commit, date = v, c, d }(version, commit, date)
	version, commit, date = "0.2.0", "0123456789abcdef0123456789abcdef01234567", "2026-12-06T00:00:00Z"
	want := "sparkcm-hook 0.2.0 (commit 0123456789abcdef0123456789abcdef01234567, built 2026-12-06T00:00:00Z)\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if r := runCLI(t, args...); r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want stdout %q", args, r.code, r.stdout, r.stderr, want)
		}
	}
}

// Installed as kubectl-sparkcm, the binary is the kubectl plugin `kubectl
// sparkcm`: its help, usage lines, errors and version name it that way, so
// that what it tells the user to type works.
func TestAsKubectlPluginHelpAndErrorsSayKubectlSparkcm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		stream   func(r run) string
		want     string
	}{
		{"help", []string{"--help"}, exitcode.OK, func(r run) string { return r.stdout }, "kubectl sparkcm [global options] command"},
		{"a command's usage line", []string{"sweep", "--help"}, exitcode.OK, func(r run) string { return r.stdout }, "kubectl sparkcm sweep (-n NAMESPACE[,NAMESPACE...] | -A"},
		{"a subcommand's usage line", []string{"rbac", "preflight", "--help"}, exitcode.OK, func(r run) string { return r.stdout }, "kubectl sparkcm rbac preflight (-n"},
		{"an unknown command", []string{"bogus"}, exitcode.Usage, func(r run) string { return r.stderr }, "(see kubectl sparkcm --help)"},
		{"an unknown flag", []string{"sweep", "--bogus"}, exitcode.Usage, func(r run) string { return r.stderr }, "(see kubectl sparkcm sweep --help)"},
		{"the version", []string{"version"}, exitcode.OK, func(r run) string { return r.stdout }, "kubectl sparkcm " + version + " "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := RunContext(context.Background(), append([]string{"/home/u/.krew/bin/kubectl-sparkcm"}, tc.args...), strings.NewReader(""), &out, &errOut)
			r := run{code, out.String(), errOut.String()}
			if r.code != tc.wantCode || !strings.Contains(tc.stream(r), tc.want) {
				t.Fatalf("exit %d (want %d); want %q in\n%s", r.code, tc.wantCode, tc.want, tc.stream(r))
			}
			// The program's own name in a command line would not run as typed.
			for _, cmd := range []string{"sparkcm-hook cleanup", "sparkcm-hook sweep", "sparkcm-hook watch", "sparkcm-hook rbac", "sparkcm-hook [global", "see sparkcm-hook"} {
				if strings.Contains(r.stdout+r.stderr, cmd) {
					t.Errorf("says %q, want kubectl sparkcm:\n%s%s", cmd, r.stdout, r.stderr)
				}
			}
		})
	}
}

// --help states the contract: the exit codes, and an environment variable
// beside every flag.
func TestHelpNamesExitCodesAndTheEnvironmentVariableOfEveryFlag(t *testing.T) {
	for _, cmd := range []string{"cleanup", "sweep", "watch"} {
		r := runCLI(t, cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "EXIT CODES") {
			t.Fatalf("%s --help: exit %d\n%s", cmd, r.code, r.stdout)
		}
		for _, flag := range []string{"timeout", "retry-budget", "concurrency", "dry-run", "output", "namespace"} {
			if v := env(flag)[0]; !strings.Contains(r.stdout, "$"+v) {
				t.Errorf("%s --help does not name $%s", cmd, v)
			}
		}
	}
	// report deletes nothing: no --dry-run, no --concurrency.
	r := runCLI(t, "report", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "EXIT CODES") || !strings.Contains(r.stdout, "deletes nothing") {
		t.Fatalf("report --help: exit %d\n%s", r.code, r.stdout)
	}
	for _, flag := range []string{"timeout", "retry-budget", "output", "namespace", "all-namespaces", "older-than", "orphan-older-than", "sizes", "top", "exclude-namespaces", "preflight"} {
		if v := env(flag)[0]; !strings.Contains(r.stdout, "$"+v) {
			t.Errorf("report --help does not name $%s", v)
		}
	}
}

// sweep takes several namespaces (repeated -n, a comma-separated list, or
// SPARKCM_NAMESPACE) and sweeps each; with -A, --exclude-namespaces (or
// SPARKCM_EXCLUDE_NAMESPACES) keeps namespaces out of the cluster-wide
// list on the server.
func TestSweepSweepsEveryNamespaceGivenAndNoneExcluded(t *testing.T) {
	var (
		mu       sync.Mutex
		requests []string
	)
	srv := newAPIServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests = append(requests, r.URL.Path+"?"+r.URL.Query().Get("fieldSelector"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method != http.MethodGet || r.URL.Query().Get("watch") != "":
		case strings.HasSuffix(r.URL.Path, "/configmaps"):
			_, _ = fmt.Fprint(w, `{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":[]}`)
			return
		case strings.HasSuffix(r.URL.Path, "/pods"):
			_, _ = fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}`)
			return
		case strings.HasSuffix(r.URL.Path, "/sparkapplications"):
			_, _ = fmt.Fprint(w, `{"kind":"SparkApplicationList","apiVersion":"sparkoperator.k8s.io/v1beta2","metadata":{},"items":[]}`)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403}`)
	})
	kc := kubeconfig(t, &rest.Config{Host: srv.url}, "from-context")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string // configmaps lists that must have been sent (path?fieldSelector)
	}{
		{"-n repeated", []string{"sweep", "-n", "a", "-n", "b"}, nil,
			[]string{"/api/v1/namespaces/a/configmaps?", "/api/v1/namespaces/b/configmaps?"}},
		{"-n before and after the command", []string{"-n", "a", "sweep", "-n", "b"}, nil,
			[]string{"/api/v1/namespaces/a/configmaps?", "/api/v1/namespaces/b/configmaps?"}},
		{"a comma-separated list", []string{"sweep", "-n", "a,b"}, nil,
			[]string{"/api/v1/namespaces/a/configmaps?", "/api/v1/namespaces/b/configmaps?"}},
		{"a list in SPARKCM_NAMESPACE", []string{"sweep"}, map[string]string{"SPARKCM_NAMESPACE": "a,b"},
			[]string{"/api/v1/namespaces/a/configmaps?", "/api/v1/namespaces/b/configmaps?"}},
		{"-A without exclusions", []string{"sweep", "-A"}, nil, []string{"/api/v1/configmaps?"}},
		{"-A with exclusions", []string{"sweep", "-A", "--exclude-namespaces", "kube-system,prod", "--exclude-namespaces", "x"}, nil,
			[]string{"/api/v1/configmaps?metadata.namespace!=kube-system,metadata.namespace!=prod,metadata.namespace!=x"}},
		{"-A with exclusions from the environment", []string{"sweep", "-A"}, map[string]string{"SPARKCM_EXCLUDE_NAMESPACES": "kube-system"},
			[]string{"/api/v1/configmaps?metadata.namespace!=kube-system"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			mu.Lock()
			requests = nil
			mu.Unlock()
			r := runCLI(t, append(tc.args, "--kubeconfig", kc, "--older-than", "1h", "-o", "json")...)
			if r.code != exitcode.OK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, want := range tc.want {
				if !slices.Contains(requests, want) {
					t.Errorf("no request %s; sent %v", want, requests)
				}
			}
			for _, p := range requests {
				if strings.Contains(p, "/namespaces/from-context/") {
					t.Errorf("request %s to the context's namespace", p)
				}
			}
		})
	}
}

// The controller cleans an application 1 s after it sees it end unless
// told otherwise: with the cleanup's own tenth of a second or two, its
// maps are then gone within 2 s of the end.
func TestTheControllersGraceIsOneSecondByDefault(t *testing.T) {
	r := runCLI(t, "controller", "--help")
	want := "clean an application this long after it is seen to end (0s: at once) (default: 1s)"
	if r.code != exitcode.OK || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "[--grace 1s]") {
		t.Fatalf("exit %d; want %q and the usage line's [--grace 1s] in\n%s", r.code, want, r.stdout)
	}
}
