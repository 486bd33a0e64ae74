package testbed

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// startBudget covers a cold build of the binaries (minutes) plus the start.
const startBudget = 15 * time.Minute

// ForTest starts a control plane for one test and stops it in t.Cleanup.
func ForTest(t testing.TB, opts Options) *ControlPlane {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startBudget)
	defer cancel()
	cp, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(cp.Stop)
	return cp
}

// RunMain shares one control plane among a package's tests:
//
//	var cp *testbed.ControlPlane
//
//	func TestMain(m *testing.M) { os.Exit(testbed.RunMain(m, testbed.Options{}, &cp)) }
//
// It stores the control plane in *cp, runs the tests, stops the control plane
// and returns the exit code for os.Exit.
func RunMain(m *testing.M, opts Options, cp **ControlPlane) int {
	ctx, cancel := context.WithTimeout(context.Background(), startBudget)
	c, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start control plane: %v\n", err)
		return 1
	}
	defer c.Stop()
	*cp = c
	return m.Run()
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
