package kubecluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const modulePath = "github.com/sparkcm-hook/sparkcm-hook"

// Environment variables that point the testbed elsewhere.
const (
	// EnvBinDir names a folder holding etcd, kube-apiserver and
	// kube-controller-manager; when unset, hack/controlplane.sh builds (or finds
	// in its cache) the pinned versions.
	EnvBinDir = "SPARKCM_CONTROLPLANE_BIN"
)

// RepoRoot walks up from the working directory to the go.mod of this module.
// Tests run in their package folder and `go run` in the caller's, so a fixed
// relative path would not do.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func isModuleRoot(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == modulePath
		}
	}
	return false
}

var binDirCache struct {
	sync.Mutex
	dir string
}

// BinDir returns the folder with the control-plane binaries, building them
// through hack/controlplane.sh on first use (a cold build takes minutes; a warm
// one returns at once). Only success is cached, so a cancelled build is retried.
func BinDir(ctx context.Context) (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d, checkBinaries(d)
	}
	binDirCache.Lock()
	defer binDirCache.Unlock()
	if binDirCache.dir != "" {
		return binDirCache.dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	unlock, err := lockBuild(ctx)
	if err != nil {
		return "", err
	}
	defer unlock()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "controlplane.sh"))
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr // build progress, shown by go test -v and on failure
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/controlplane.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if err := checkBinaries(dir); err != nil {
		return "", err
	}
	binDirCache.dir = dir
	return dir, nil
}

func checkBinaries(dir string) error {
	var errs []error
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		st, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			errs = append(errs, fmt.Errorf("control-plane binary: %w", err))
			continue
		}
		if st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("control-plane binary %s is not executable", filepath.Join(dir, b)))
		}
	}
	return errors.Join(errs...)
}

// lockBuild serialises hack/controlplane.sh across processes: `go test ./...`
// runs several test binaries at once, and on a cold cache each would start
// its own five-minute build, the last one replacing the folder the first
// ones are already running binaries from. Waiters find the cache warm.
func lockBuild(ctx context.Context) (func(), error) {
	return lockFile(ctx, "sparkcm-controlplane-build.lock")
}

// lockFile takes an exclusive flock on the named file in the temp dir,
// waiting until ctx ends.
func lockFile(ctx context.Context, name string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("open build lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			_ = f.Close()
			return nil, fmt.Errorf("take build lock: %w", err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for another control-plane build: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
