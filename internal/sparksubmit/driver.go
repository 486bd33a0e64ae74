package sparksubmit

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed driver.py
var driverPy []byte

// Driver is a client-mode Spark driver running on this machine, as a notebook
// or an engine outside the cluster runs it: `spark-submit --deploy-mode
// client` with a small Python program (driver.py) that opens and stops
// SparkContexts on command. Its executors are Pods on the API server; they
// stay Pending (no node).
type Driver struct {
	in      Install
	work    string
	cmd     *exec.Cmd
	control *os.File
	lines   chan string // "sparkbed: ..." answers, prefix cut
	log     lockedBuffer
	exited  chan struct{}
	waitErr error
}

// StartDriver starts the driver process and returns once its Python side reads
// commands; no SparkContext runs yet. conf goes to spark-submit (over the
// settings StartDriver makes itself: master, client mode, namespace,
// credentials, 512m driver and executor memory, no UI, no wait for executors
// to register, an image for the executor Pods).
func (in Install) StartDriver(ctx context.Context, t Target, namespace string, conf map[string]string) (_ *Driver, err error) {
	work, err := os.MkdirTemp("", "sparkbed-driver-")
	if err != nil {
		return nil, err
	}
	d := &Driver{in: in, work: work, lines: make(chan string, 16), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := os.Mkdir(filepath.Join(work, "conf"), 0o755); err != nil {
		return nil, err
	}
	script := filepath.Join(work, "driver.py")
	if err := os.WriteFile(script, driverPy, 0o644); err != nil {
		return nil, err
	}
	fifo := filepath.Join(work, "control")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("mkfifo %s: %w", fifo, err)
	}
	// Read-write, so the open does not wait for the reader; when this process
	// dies the driver reads end of file and stops cleanly.
	if d.control, err = os.OpenFile(fifo, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	all := map[string]string{
		"spark.master":                                "k8s://" + t.Host,
		"spark.submit.deployMode":                     "client",
		"spark.kubernetes.namespace":                  namespace,
		"spark.kubernetes.authenticate.oauthToken":    t.Token,
		"spark.kubernetes.trust.certificates":         "true",
		"spark.kubernetes.container.image":            "spark:" + in.Version,
		"spark.driver.memory":                         "512m",
		"spark.executor.memory":                       "512m",
		"spark.driver.host":                           "127.0.0.1",
		"spark.driver.bindAddress":                    "127.0.0.1",
		"spark.ui.enabled":                            "false",
		"spark.scheduler.minRegisteredResourcesRatio": "0",                 // executors never register here: do not wait 30 s for them
		"spark.kubernetes.driver.connectionTimeout":   clientTimeoutMillis, // as in Submit
		"spark.kubernetes.driver.requestTimeout":      clientTimeoutMillis,
	}
	for k, v := range conf {
		all[k] = v
	}
	props := filepath.Join(work, "spark-submit.properties")
	if err := writeProperties(props, all); err != nil {
		return nil, err
	}
	d.cmd = exec.Command(filepath.Join(in.Home, "bin", "spark-submit"), "--properties-file", props, script, fifo)
	d.cmd.Env = in.env(work)
	d.cmd.Dir = work
	// Its own process group: Kill takes the JVM and its Python child at once.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	d.cmd.Stderr = &d.log
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start spark-submit (Spark %s): %w", in.Version, err)
	}
	go d.read(stdout)
	if _, err := d.await(ctx, "ready"); err != nil {
		return nil, err
	}
	return d, nil
}

// read sorts stdout into answers and log, then records the exit.
func (d *Driver) read(stdout io.Reader) {
	s := bufio.NewScanner(stdout)
	for s.Scan() {
		line := s.Text()
		if rest, ok := strings.CutPrefix(line, "sparkbed: "); ok {
			d.lines <- rest
			continue
		}
		_, _ = d.log.Write([]byte(line + "\n"))
	}
	d.waitErr = d.cmd.Wait()
	close(d.exited)
}

// await waits for the answer word (returning the rest of its line), an error
// answer, the process's exit or ctx's end.
func (d *Driver) await(ctx context.Context, word string) (string, error) {
	for {
		select {
		case line := <-d.lines:
			w, rest, _ := strings.Cut(line, " ")
			switch w {
			case word:
				return rest, nil
			case "error":
				return "", fmt.Errorf("client-mode driver (Spark %s): %s\n%s", d.in.Version, rest, excerpt(d.log.String()))
			}
		case <-d.exited:
			exit := d.waitErr
			if exit == nil {
				exit = errors.New("exit status 0")
			}
			return "", fmt.Errorf("client-mode driver (Spark %s) exited before %q: %w\n%s", d.in.Version, word, exit, excerpt(d.log.String()))
		case <-ctx.Done():
			return "", fmt.Errorf("client-mode driver (Spark %s): waiting for %q: %w\n%s", d.in.Version, word, ctx.Err(), excerpt(d.log.String()))
		}
	}
}

func (d *Driver) send(line string) error {
	if _, err := d.control.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("client-mode driver control: %w", err)
	}
	return nil
}

// Start opens a SparkContext with conf (spark.app.name,
// spark.executor.instances, dynamic allocation, ...) and returns its
// application id once SparkContext is up: the executor map exists then, and
// the executor Pods asked for are created or about to be.
func (d *Driver) Start(ctx context.Context, conf map[string]string) (string, error) {
	b, err := json.Marshal(conf)
	if err != nil {
		return "", err
	}
	if err := d.send("start " + string(b)); err != nil {
		return "", err
	}
	id, err := d.await(ctx, "started")
	return strings.TrimSpace(id), err
}

// Stop stops the SparkContext the way an application ends normally
// (SparkContext.stop()).
func (d *Driver) Stop(ctx context.Context) error {
	if err := d.send("stop"); err != nil {
		return err
	}
	_, err := d.await(ctx, "stopped")
	return err
}

// Kill sends SIGKILL to the driver JVM and its Python process, as the OOM
// killer or a lost node would: no shutdown hook runs.
func (d *Driver) Kill() error {
	if err := syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill driver: %w", err)
	}
	select {
	case <-d.exited:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("driver still running 30 s after SIGKILL")
	}
}

// Close ends the driver (asking first, killing after a minute) and removes
// its files. Safe to call more than once.
func (d *Driver) Close() {
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.exited:
		default:
			_ = d.send("exit")
			select {
			case <-d.exited:
			case <-time.After(time.Minute):
				_ = d.Kill()
			}
		}
	}
	if d.control != nil {
		_ = d.control.Close()
	}
	_ = os.RemoveAll(d.work)
}

// Log is the tail of the driver's log (Spark's stderr and stray stdout).
func (d *Driver) Log(n int) string { return tail(d.log.String(), n) }

// Pid is the driver JVM's process id (spark-submit execs into java).
func (d *Driver) Pid() int { return d.cmd.Process.Pid }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
