// Command devenv runs the local test control plane for make demo, the Airflow
// end-to-end tests and benchmarks, until it receives SIGINT or SIGTERM.
//
//	go run ./internal/cmd/devenv up --dir DIR [--controller-manager] [--node]
//
// It writes DIR/kubeconfig (admin, namespace "default"), then DIR/ready, and
// prints the kubeconfig path on stdout. On SIGINT/SIGTERM (or, under go run,
// when go run dies) it removes DIR/ready and stops every component.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

func main() {
	// `go run` does not forward SIGTERM to the program it runs, so a script
	// that kills go run would orphan us and the control plane. Under go run
	// only, ask the kernel for a SIGTERM when the parent dies. Not otherwise:
	// a devenv started in the background on purpose (nohup, a subshell) must
	// outlive its short-lived parent.
	if parentIsGoRun() {
		if err := dieWithParent(); err != nil {
			fmt.Fprintln(os.Stderr, "devenv:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then stops the control plane.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "up" {
		return errors.New("usage: devenv up --dir DIR [--controller-manager] [--node]")
	}
	fs := flag.NewFlagSet("devenv up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "folder for kubeconfig and the ready marker (created if missing)")
	withCM := fs.Bool("controller-manager", false, "also run kube-controller-manager (garbage collector, serviceaccount, clusterrole-aggregation)")
	withNode := fs.Bool("node", false, "also run a node (kube-scheduler, containerd, kubelet; root only) with the testbed images, so Pods really run")
	startTimeout := fs.Duration("start-timeout", 15*time.Minute, "bound on building (cold: minutes) and starting the control plane")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", *dir, err)
	}
	kubeconfig, err := filepath.Abs(filepath.Join(*dir, "kubeconfig"))
	if err != nil {
		return err
	}
	ready := filepath.Join(*dir, "ready")
	_ = os.Remove(ready) // a marker left by a killed run must not pass for this one

	startCtx, cancel := context.WithTimeout(ctx, *startTimeout)
	cp, err := kubecluster.Start(startCtx, kubecluster.Options{ControllerManager: *withCM, Node: *withNode})
	cancel()
	if err != nil {
		return err
	}
	defer cp.Stop()
	defer func() { _ = os.Remove(ready) }()

	if err := kubecluster.WriteKubeconfig(kubeconfig, cp.AdminConfig(), "default"); err != nil {
		return err
	}
	if err := cp.CreateNamespace(ctx, "default"); err != nil {
		return err
	}
	if err := os.WriteFile(ready, []byte(cp.Host()+"\n"), 0o644); err != nil {
		return fmt.Errorf("write ready marker: %w", err)
	}
	fmt.Fprintln(stdout, kubeconfig)
	fmt.Fprintf(stderr, "devenv: control plane at %s; stop with SIGINT or SIGTERM\n", cp.Host())
	<-ctx.Done()
	fmt.Fprintln(stderr, "devenv: stopping")
	return nil
}

func parentIsGoRun() bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", os.Getppid()))
	return err == nil && strings.TrimSpace(string(comm)) == "go"
}

// dieWithParent sets PR_SET_PDEATHSIG for this process.
func dieWithParent() error {
	const prSetPdeathsig = 1
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGTERM), 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG): %w", errno)
	}
	return nil
}
