package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a measured child that runs until told to stop (the controller,
// a sidecar): unlike run's children its memory is read while it runs, from
// /proc, and its metrics over HTTP.
type daemon struct {
	cmd     *exec.Cmd
	name    string
	addr    string // its --http-addr, or ""
	stdout  bytes.Buffer
	logPath string
	started time.Time
	done    chan struct{} // closed when it exited
	exit    int
}

// freeAddr is a loopback address nothing listens on just now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// startDaemon starts bin with args; its stderr (the log) goes to a file in
// dir, kept for the error messages.
func startDaemon(ctx context.Context, env []string, dir, name, addr, bin string, args ...string) (*daemon, error) {
	logf, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	d := &daemon{name: name, addr: addr, logPath: logf.Name(), done: make(chan struct{})}
	// Not exec.CommandContext: the bench stops it with SIGTERM, the way
	// Kubernetes stops a Pod, and reads what it prints then.
	d.cmd = exec.Command(bin, args...) //nolint:gosec // the binary under test, given by --bin
	d.cmd.Env = env
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, logf
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = d.cmd.Wait()
		_ = logf.Close()
		d.exit = d.cmd.ProcessState.ExitCode()
		close(d.done)
	}()
	// A bench stopped by ^C or an error must not leave it running.
	context.AfterFunc(ctx, func() { _ = d.cmd.Process.Kill() })
	return d, nil
}

func (d *daemon) running() error {
	select {
	case <-d.done:
		return fmt.Errorf("%s exited %d:\n%s", d.name, d.exit, d.logTail(20))
	default:
		return nil
	}
}

func (d *daemon) logTail(n int) string {
	b, _ := os.ReadFile(d.logPath)
	return tail(b, n)
}

// memory is the child's resident set now and its high-water mark (KiB),
// from /proc/PID/status. VmHWM belongs to the memory the program runs in
// since exec: unlike the rusage of a child Go started (see gnuTime), it
// does not carry this program's own peak.
func (d *daemon) memory() (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	return parseVM(string(b))
}

// parseVM reads VmHWM and VmRSS (in kB) from /proc/PID/status.
func parseVM(status string) (hwm, rss int64, err error) {
	for _, line := range strings.Split(status, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("unexpected %s line %q", key, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		if key == "VmHWM" {
			hwm = n
		} else {
			rss = n
		}
	}
	if hwm == 0 || rss == 0 {
		return 0, 0, errors.New("no VmHWM or VmRSS in /proc/PID/status")
	}
	return hwm, rss, nil
}

// get reads path from the child's HTTP endpoint.
func (d *daemon) get(ctx context.Context, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metric is the value of one sample of the child's /metrics.
func (d *daemon) metric(ctx context.Context, name string, labels map[string]string) (float64, bool, error) {
	code, body, err := d.get(ctx, "/metrics")
	if err != nil {
		return 0, false, err
	}
	if code != http.StatusOK {
		return 0, false, fmt.Errorf("%s /metrics: %d", d.name, code)
	}
	v, ok := promValue(body, name, labels)
	return v, ok, nil
}

// promValue finds, in the Prometheus text format, the first sample of name
// whose labels include labels.
func promValue(text, name string, labels map[string]string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		have := map[string]string{}
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			var err error
			if have, err = parseLabels(rest[1:end]); err != nil {
				continue
			}
			rest = rest[end+1:]
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}

// waitFor polls cond every 100 ms until it holds, the child exits, or
// timeout.
func (d *daemon) waitFor(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if err := d.running(); err != nil {
			return err
		}
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("%s: %s not seen within %s", d.name, what, timeout)
			if last != nil {
				return fmt.Errorf("%s (last error: %w); log:\n%s", msg, last, d.logTail(20))
			}
			return fmt.Errorf("%s; log:\n%s", msg, d.logTail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits (then kills it after 30 s).
func (d *daemon) stop() (exit int, stdout []byte) {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	return d.exit, d.stdout.Bytes()
}
