package kubecluster

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"
)

// startBudget covers a cold build of the binaries (minutes) plus the start.
const startBudget = 15 * time.Minute

// ForTest starts a control plane for one test and stops it in t.Cleanup. It
// skips the test under -short.
func ForTest(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	SkipIfShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), startBudget)
	defer cancel()
	cp, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(cp.Stop)
	return cp
}

// Shared is one control plane for a package's tests, started by the first
// test that needs it, so that a package whose tests need none (or a run with
// -short) starts nothing:
//
//	var cp = kubecluster.NewShared(kubecluster.Options{})
//
//	func TestMain(m *testing.M) { os.Exit(cp.RunMain(m)) }
//
//	func TestX(t *testing.T) { ns := cp.NewNamespace(t); c := cp.Get(t) ... }
type Shared struct {
	opts Options
	once sync.Once
	cp   *ControlPlane
	err  error
}

// NewShared returns a Shared that starts a control plane with opts on first use.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Get returns the package's control plane, starting it on the first call. It
// skips the test under -short, and fails it (every later one too) when the
// control plane cannot start.
func (s *Shared) Get(t testing.TB) *ControlPlane {
	t.Helper()
	SkipIfShort(t)
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startBudget)
		defer cancel()
		s.cp, s.err = Start(ctx, s.opts)
	})
	if s.err != nil {
		t.Fatalf("start control plane: %v", s.err)
	}
	return s.cp
}

// NewNamespace is Get(t).NewNamespace(t): most control-plane tests start so.
func (s *Shared) NewNamespace(t testing.TB) string {
	t.Helper()
	return s.Get(t).NewNamespace(t)
}

// RunMain runs the package's tests and then stops the control plane if a
// test started one. It returns the exit code for os.Exit.
func (s *Shared) RunMain(m *testing.M) int {
	code := m.Run()
	if s.cp != nil { // every test has returned: nothing starts it any more
		s.cp.Stop()
	}
	return code
}

// Stop stops the control plane if a test started one: for a package with a
// second Shared beside the one whose RunMain runs its tests.
func (s *Shared) Stop() {
	if s.cp != nil {
		s.cp.Stop()
	}
}

// SkipIfShort skips a test that needs a control plane (or any other process)
// under -short: the short tier starts nothing.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts processes (control plane, helm, ...); skipped under -short")
	}
}

// ErrShort is what Start returns in a test binary run with -short, so that no
// test in the short tier can start a control plane, whatever path it takes.
var ErrShort = errors.New("no control plane under go test -short: skip the test with kubecluster.SkipIfShort or use Shared.Get")

// shortTest reports whether this is a test binary run with -short. Outside
// tests (demo, bench, devenv) and before the test flags are parsed (a
// TestMain helper), it is false.
func shortTest() bool {
	return testing.Testing() && flag.Parsed() && testing.Short()
}

// NewNamespace creates a namespace named after the test (plus a random
// suffix, so -count=N works) with its "default" ServiceAccount, and returns
// its name. The namespace is not deleted afterwards: without the namespace
// controller it would stay Terminating anyway, and the control plane is thrown
// away at the end.
func (c *ControlPlane) NewNamespace(t testing.TB) string {
	t.Helper()
	name := namespaceName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CreateNamespace(ctx, name); err != nil {
		t.Fatalf("%v", err)
	}
	return name
}

func namespaceName(testName string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(testName) {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if ok {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	base := strings.Trim(b.String(), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	if base == "" {
		base = "test"
	}
	return base + "-" + randomSuffix(5)
}

func randomSuffix(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
