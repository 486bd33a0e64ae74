package kubecluster

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestStopKillsEveryComponentAndRemovesItsFilesAndIsIdempotent(t *testing.T) {
	SkipIfShort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	pids := c.PIDs()
	if len(pids) != 3 {
		t.Fatalf("want 3 components, got %v", pids)
	}
	c.Stop()
	c.Stop()
	for _, pid := range pids {
		// Stop waits for each process, so it is reaped: no zombie either.
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d still exists after Stop", pid)
		}
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("temp dir %s still there after Stop: %v", c.dir, err)
	}
}

func TestNamespaceNameIsAValidDNSLabelFromTheTestName(t *testing.T) {
	for _, in := range []string{"TestX", "TestFoo/sub_case#01", "Test" + string(make([]byte, 80)), "///"} {
		got := namespaceName(in)
		if len(got) > 63 || got[0] == '-' || got[len(got)-1] == '-' {
			t.Errorf("namespaceName(%q) = %q", in, got)
		}
		for _, r := range got {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				t.Errorf("namespaceName(%q) = %q has %q", in, got, r)
			}
		}
	}
}
