package kubecluster_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// The short tier (go test -short) starts no process: a test that forgot to
// skip cannot start a control plane, and the shared one is never started.
// Outside -short there is nothing to check here.
func TestShortTierStartsNoControlPlane(t *testing.T) {
	if !testing.Short() {
		t.Skip("checks the -short tier")
	}
	c, err := kubecluster.Start(context.Background(), kubecluster.Options{})
	if !errors.Is(err, kubecluster.ErrShort) {
		if c != nil {
			c.Stop()
		}
		t.Fatalf("Start under -short: %v, want ErrShort", err)
	}
	shared := kubecluster.NewShared(kubecluster.Options{})
	reached := false
	t.Run("a test that needs the control plane", func(t *testing.T) {
		shared.Get(t)
		reached = true
	})
	if reached {
		t.Fatal("Shared.Get did not skip its test under -short")
	}
}
