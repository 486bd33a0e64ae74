package kube_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/internal/retrytest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var cmGR = schema.GroupResource{Resource: "configmaps"}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestIsTransientClassifiesFailures(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"429", retrytest.TooManyRequests(1), true},
		{"500", apierrors.NewInternalError(errors.New("boom")), true},
		{"503", apierrors.NewServiceUnavailable("down"), true},
		{"504 server timeout", apierrors.NewServerTimeout(cmGR, "delete", 1), true},
		{"gateway timeout", apierrors.NewTimeoutError("timeout", 1), true},
		{"connection reset", &url.Error{Op: "Delete", URL: "https://x", Err: syscall.ECONNRESET}, true},
		{"connection refused (API server restarting)", &url.Error{Op: "Get", URL: "https://x", Err: syscall.ECONNREFUSED}, true},
		{"EOF", &url.Error{Op: "Get", URL: "https://x", Err: io.EOF}, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"400", apierrors.NewBadRequest("bad"), false},
		{"403", apierrors.NewForbidden(cmGR, "x", errors.New("no")), false},
		{"404", apierrors.NewNotFound(cmGR, "x"), false},
		{"409", apierrors.NewConflict(cmGR, "x", errors.New("uid")), false},
		{"422", apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil), false},
		{"x509 unknown authority", &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, false},
		{"url error that is not a timeout", &url.Error{Op: "Get", URL: "https://x", Err: errors.New("unsupported protocol scheme")}, false},
		{"a proxy's 400 page", proxyPage(400), false},
		{"a proxy's 401 page", proxyPage(401), false},
		{"a proxy's 403 page", proxyPage(403), false},
		{"a proxy's 404 page", proxyPage(404), false},
		{"a proxy's 409 page", proxyPage(409), false},
		{"a proxy's 429 page", proxyPage(429), true},
		{"a proxy's 502 page", proxyPage(502), true},
		{"a proxy's 503 page", proxyPage(503), true},
		{"context cancelled", context.Canceled, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := kube.IsTransient(tc.err); got != tc.want {
				t.Fatalf("kube.IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// proxyPage is what client-go makes of an error answer that is not a
// Kubernetes Status (an HTML page from an ingress or load balancer).
func proxyPage(code int) error {
	return apierrors.NewGenericServerResponse(code, "GET", cmGR, "x", "<html>nginx</html>", 0, true)
}

func TestAProxysPageIsNeverTheAPIServersVerdict(t *testing.T) {
	if kube.IsNotFound(proxyPage(404)) || !kube.IsNotFound(apierrors.NewNotFound(cmGR, "x")) {
		t.Error("a proxy's 404 page must not read as NotFound, the API server's must")
	}
	if kube.IsConflict(proxyPage(409)) || !kube.IsConflict(apierrors.NewConflict(cmGR, "x", errors.New("uid"))) {
		t.Error("a proxy's 409 page must not read as a failed precondition, the API server's must")
	}
	var fe *kube.ForbiddenError
	if errors.As(kube.AsForbidden(proxyPage(403), "delete", "", "configmaps", "jobs"), &fe) {
		t.Error("a proxy's 403 page must not be reported as missing RBAC")
	}
	if !kube.IsExpired(apierrors.NewResourceExpired("continue token too old")) || kube.IsExpired(proxyPage(410)) {
		t.Error("only the API server's 410 Expired restarts a list")
	}
}

func TestRetryHonoursRetryAfterAndBacksOffExponentially(t *testing.T) {
	ft := retrytest.NewFakeTime()
	calls := 0
	err := kube.Retry(context.Background(), discardLog(), ft.Apply(kube.RetryPolicy{Budget: time.Minute, Initial: 100 * time.Millisecond, Max: 10 * time.Second}), "op", func(context.Context) error {
		calls++
		switch calls {
		case 1:
			return retrytest.TooManyRequests(7)
		case 2, 3, 4:
			return apierrors.NewServiceUnavailable("down")
		}
		return nil
	})
	if err != nil || calls != 5 {
		t.Fatalf("retry = %v after %d calls, want success after 5", err, calls)
	}
	if ft.Waits()[0] < 7*time.Second {
		t.Errorf("first wait %v ignores Retry-After: 7s", ft.Waits()[0])
	}
	// Exponential with ±50% jitter: the fourth wait's lowest value
	// (0.1s*2^3*0.5) is above the second's highest (0.1s*2*1.5).
	if ft.Waits()[3] <= ft.Waits()[1] {
		t.Errorf("waits do not grow: %v", ft.Waits())
	}
}

func TestRetryGivesUpWhenTheBudgetRunsOutAndKeepsTheLastError(t *testing.T) {
	ft := retrytest.NewFakeTime()
	calls := 0
	err := kube.Retry(context.Background(), discardLog(), ft.Apply(kube.RetryPolicy{Budget: 5 * time.Second, Initial: time.Second, Max: time.Second}), "delete configmap x", func(context.Context) error {
		calls++
		return apierrors.NewServiceUnavailable("still down")
	})
	if err == nil || !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("err = %v, want the last 503 wrapped", err)
	}
	if calls < 3 || calls > 12 {
		t.Fatalf("%d calls inside a 5s budget of ~1s waits", calls)
	}
}

func TestRetryStopsAtOnceOnFinalErrors(t *testing.T) {
	ft := retrytest.NewFakeTime()
	for _, final := range []error{
		apierrors.NewBadRequest("bad"),
		apierrors.NewForbidden(cmGR, "x", errors.New("no")),
		apierrors.NewNotFound(cmGR, "x"),
		apierrors.NewConflict(cmGR, "x", errors.New("uid")),
		apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, "x", nil),
	} {
		calls := 0
		err := kube.Retry(context.Background(), discardLog(), ft.Apply(kube.RetryPolicy{}), "op", func(context.Context) error {
			calls++
			return final
		})
		if calls != 1 || !errors.Is(err, final) {
			t.Errorf("%v: %d calls, err %v; want one call and the error itself", final, calls, err)
		}
	}
}

func TestForbiddenErrorNamesWhoWhatWhereAndTheRule(t *testing.T) {
	raw := apierrors.NewForbidden(cmGR, "spark-exec-1-conf-map", errors.New(`User "system:serviceaccount:jobs:janitor" cannot delete resource "configmaps" in API group "" in the namespace "jobs"`))
	err := kube.AsForbidden(raw, "delete", "", "configmaps", "jobs")
	var fe *kube.ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("not a kube.ForbiddenError: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"system:serviceaccount:jobs:janitor", "delete", "configmaps", "jobs", `verbs: ["delete"]`} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
