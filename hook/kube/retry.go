package kube

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// The default policy is exponential backoff with jitter from 200ms to 10s,
// inside a two-minute budget. Constants, so that no caller can change
// what every other one gets.
const (
	DefaultRetryBudget  = 2 * time.Minute
	defaultRetryInitial = 200 * time.Millisecond
	defaultRetryMax     = 10 * time.Second
)

// RetryPolicy bounds how the library retries transient API failures.
type RetryPolicy struct {
	// Budget is the total time one operation may spend retrying; the
	// caller's context may end it sooner.
	Budget time.Duration
	// Initial and Max are the first and the largest wait between tries.
	Initial, Max time.Duration

	// Clock measures the budget and Sleep waits between tries; nil means
	// real time. Tests inject their own so that they see the waits the
	// policy asks for without spending them, and can run in parallel.
	Clock backoff.Clock
	Sleep func(ctx context.Context, d time.Duration) error

	// Readiness, when set, asks the API server whether it is ready. A
	// kube-apiserver that has just started serves requests before its
	// RBAC caches are filled and refuses them with 403 (or 401) meanwhile:
	// such a refusal is retried like a 503, never read as RBAC's verdict.
	// Where readiness cannot be told, a refusal is retried too, and once
	// the budget is spent it is returned as the refusal it is.
	Readiness func(context.Context) Readiness
}

// WithDefaults fills each zero field with its default.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Budget <= 0 {
		p.Budget = DefaultRetryBudget
	}
	if p.Initial <= 0 {
		p.Initial = defaultRetryInitial
	}
	if p.Max <= 0 {
		p.Max = defaultRetryMax
	}
	if p.Clock == nil {
		p.Clock = backoff.SystemClock
	}
	if p.Sleep == nil {
		p.Sleep = SleepCtx
	}
	return p
}

// IsTransient reports whether an API call that failed with err may succeed
// when tried again: throttling, server-side timeouts and 5xx, and a
// connection that broke or was refused (an API server restarting). Auth,
// validation, conflicts and certificate errors are final.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if code, ok := UnexpectedResponse(err); ok {
		// Not a Kubernetes Status: a proxy or load balancer answered. Only
		// throttling and its 5xx say "try again"; its 400/401/403/404/409
		// pages are final, and never mean what the API server's would.
		return code == 429 || code >= 500
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalidCert) {
		return false
	}
	switch {
	case apierrors.IsTooManyRequests(err),
		apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err),
		apierrors.IsInternalError(err),
		apierrors.IsServiceUnavailable(err),
		apierrors.IsUnexpectedServerError(err):
		return true
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		// Any other status the server answered with (400, 401, 403, 404,
		// 409, 422, ...) is its final word; 502 and 504 from a proxy in
		// front of it are not.
		code := status.Status().Code
		return code == 502 || code == 504
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		utilnet.IsConnectionReset(err) || utilnet.IsConnectionRefused(err) || utilnet.IsProbableEOF(err) ||
		utilnet.IsHTTP2ConnectionLost(err) {
		return true
	}
	// A *url.Error is a net.Error too; only a real timeout counts.
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	return false
}

// RetryAfter is the delay the server asked for (Retry-After on 429 and some
// 5xx), or zero.
func RetryAfter(err error) time.Duration {
	if seconds, ok := apierrors.SuggestsClientDelay(err); ok && seconds > 0 {
		return time.Duration(seconds) * time.Second
	}
	return 0
}

// Retry runs op until it succeeds, fails with a final error, or the budget
// or ctx runs out. Waits grow exponentially with jitter and are never
// shorter than a Retry-After the server sent. The last error is returned
// (not just "context deadline exceeded") so the caller can say what failed.
func Retry(ctx context.Context, log *slog.Logger, p RetryPolicy, what string, op func(context.Context) error) error {
	p = p.WithDefaults()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = p.Initial
	b.MaxInterval = p.Max
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.MaxElapsedTime = p.Budget
	b.Clock = p.Clock
	b.Reset()

	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var perm *backoff.PermanentError
		if errors.As(err, &perm) {
			return perm.Err
		}
		transient := IsTransient(err)
		state := Ready
		if !transient {
			if state = p.startingUp(ctx, err); state == Ready {
				return err
			}
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			if state == UnknownReadiness {
				// Refused all along by a server whose state these
				// credentials may not read: the refusal is the one thing
				// known, and it stays what it is (exit 3).
				return fmt.Errorf("%s: refused after %d attempts in %s; whether the API server was still starting could not be told (/readyz and access reviews are forbidden to these credentials): %w", what, attempt, p.Budget, err)
			}
			if !transient {
				// Refused by a server that was not ready: that is not
				// RBAC's verdict, and must not read as one (exit 3).
				return fmt.Errorf("%s: gave up after %d attempts in %s: the API server was not ready yet (it refused with: %s)", what, attempt, p.Budget, OneLineErr(err))
			}
			return fmt.Errorf("%s: gave up after %d attempts in %s: %w", what, attempt, p.Budget, err)
		}
		if ra := RetryAfter(err); ra > wait {
			wait = ra
		}
		if state == UnknownReadiness && attempt == 1 {
			log.Info("refused, and /readyz is forbidden to these credentials: retrying in case the API server is still starting", "op", what, "budget", p.Budget, "err", OneLineErr(err))
		}
		log.Debug("transient API failure, retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		if serr := p.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s: %w (last error: %w)", what, serr, err)
		}
	}
}

// startingUp says whether a refusal (403, 401) came from an API server
// that is not ready yet (NotReady), may be (UnknownReadiness), or is ready,
// which makes the refusal final.
func (p RetryPolicy) startingUp(ctx context.Context, err error) Readiness {
	if p.Readiness == nil || !(apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)) {
		return Ready
	}
	if _, unexpected := UnexpectedResponse(err); unexpected {
		return Ready
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.Readiness(ctx)
}

// SleepCtx waits for d or until ctx ends.
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CallAPI runs one API call (or one paged pass) with retry, and says what
// failed where: a 403 becomes a *ForbiddenError, NotFound is returned as is
// for the caller to test, anything else is wrapped with the operation and
// namespace.
func CallAPI(ctx context.Context, log *slog.Logger, p RetryPolicy, ns, what, verb, group, resource string, op func(context.Context) error) error {
	err := Retry(ctx, log, p, what, op)
	if err == nil || IsNotFound(err) {
		return err
	}
	if fe := AsForbidden(err, verb, group, resource, ns); fe != err { //nolint:errorlint // identity: AsForbidden returns err itself unless it was a 403
		return fe
	}
	where := ns
	if where == "" {
		where = "(all)"
	}
	return fmt.Errorf("%s in namespace %s: %w", what, where, err)
}

var forbiddenUser = regexp.MustCompile(`User "([^"]+)" cannot`)

// AsForbidden turns a 403 from the API server into a *ForbiddenError that
// names the identity, verb, resource and namespace, and a 401 into an
// *UnauthorizedError; other errors pass.
func AsForbidden(err error, verb, group, resource, namespace string) error {
	if _, ok := UnexpectedResponse(err); ok {
		// A proxy's 401 or 403 page says nothing about RBAC or the
		// credentials the API server would take.
		return err
	}
	if apierrors.IsUnauthorized(err) {
		op := verb + " " + ResourceName(group, resource)
		if namespace != "" {
			op += " in namespace " + namespace
		}
		return &UnauthorizedError{Op: op, Err: err}
	}
	if !apierrors.IsForbidden(err) {
		return err
	}
	fe := &ForbiddenError{Verb: verb, Group: group, Resource: resource, Namespace: namespace, Err: err}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if m := forbiddenUser.FindStringSubmatch(status.Status().Message); m != nil {
			fe.User = m[1]
		}
	}
	return fe
}

// UnexpectedResponse reports an error answer that was not a Kubernetes
// Status (an HTML page from a proxy, say), with its HTTP code. client-go
// still turns such an answer into a StatusError with the reason its code
// suggests (NotFound for any 404), which must never be read as the API
// server's word about an object.
func UnexpectedResponse(err error) (int, bool) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return 0, false
	}
	st := status.Status()
	if st.Details == nil {
		return 0, false
	}
	for _, c := range st.Details.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse {
			return int(st.Code), true
		}
	}
	return 0, false
}

// IsNotFound is the API server saying the object does not exist; a 404
// page from something in front of it is not.
func IsNotFound(err error) bool {
	_, unexpected := UnexpectedResponse(err)
	return apierrors.IsNotFound(err) && !unexpected
}

// IsConflict is the API server refusing a precondition (or an update of
// a stale object); a 409 page from a proxy is a failure, not a verdict.
func IsConflict(err error) bool {
	_, unexpected := UnexpectedResponse(err)
	return apierrors.IsConflict(err) && !unexpected
}

// IsExpired is the API server saying a continue token (or a resource
// version) is too old: the list must start over.
func IsExpired(err error) bool {
	_, unexpected := UnexpectedResponse(err)
	return (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) && !unexpected
}

// Readiness is what the API server tells of its own state.
type Readiness int

// The API server's states, as far as a refusal's meaning goes.
const (
	Ready    Readiness = iota
	NotReady           // still starting (or failing): its refusals are not RBAC's verdict
	// UnknownReadiness means /readyz is forbidden to these credentials, and so is
	// asking whether it is (a cluster that removed the public-info-viewer and
	// basic-user bindings): a starting server and a settled refusal look alike.
	UnknownReadiness
)

// OneLineErr keeps a failure's reason to one line in the ledger and table.
func OneLineErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
