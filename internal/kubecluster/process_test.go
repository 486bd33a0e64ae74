package kubecluster_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

const helperEnv = "SPARKCM_TESTBED_HELPER"

// runHelper starts a control plane, prints its pids and blocks until it is
// killed: the child-process half of TestControlPlaneDiesWithTheProcessThatStartedIt.
func runHelper() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	c, err := kubecluster.Start(ctx, kubecluster.Options{ControllerManager: true})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, pid := range c.PIDs() {
		fmt.Println(pid)
	}
	// The temp dir is private; find it by the owner pid the testbed writes.
	owners, _ := filepath.Glob(filepath.Join(os.TempDir(), "sparkcm-testbed-*", "owner.pid"))
	for _, o := range owners {
		if b, _ := os.ReadFile(o); string(b) == strconv.Itoa(os.Getpid()) {
			fmt.Println("dir", filepath.Dir(o))
		}
	}
	fmt.Println("ready")
	select {}
}

// alive treats a zombie as dead: once killed, a component reparented to a
// PID 1 that does not reap stays a zombie, but it holds no port or file.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func waitAllDead(t *testing.T, pids []int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		for _, pid := range pids {
			if alive(pid) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("process %d still running", pid)
			}
		}
	}
}

func TestControlPlaneDiesWithTheProcessThatStartedIt(t *testing.T) {
	kubecluster.SkipIfShort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	var dirLine string
	s := bufio.NewScanner(out)
	for s.Scan() && s.Text() != "ready" {
		if d, ok := strings.CutPrefix(s.Text(), "dir "); ok {
			dirLine = d
			continue
		}
		pid, err := strconv.Atoi(s.Text())
		if err != nil {
			t.Fatalf("helper said %q", s.Text())
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		_ = cmd.Process.Kill()
		t.Fatalf("want etcd, kube-apiserver and kube-controller-manager pids, got %v", pids)
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("component %d not running before the helper dies", pid)
		}
	}
	// SIGKILL: no deferred Stop, no signal handler runs. Only Pdeathsig can
	// take the components down.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitAllDead(t, pids)

	// The helper's files outlive it; the next Start must sweep them.
	dir := strings.TrimSpace(dirLine)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("helper's temp dir %q: %v", dir, err)
	}
	kubecluster.ForTest(t, kubecluster.Options{}).Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("stale temp dir %s not removed by the next Start: %v", dir, err)
	}
}
