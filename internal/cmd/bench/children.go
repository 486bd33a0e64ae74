package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/pager"
)

// The in-process baselines (the floor and DeleteCollection) run as child
// processes of this program, like the sparkcm-hook binary: each starts fresh,
// loads the same kubeconfig, and its peak RSS is its own.
const (
	childFloor            = "__floor"
	childDeleteCollection = "__deletecollection"
)

// childResult is what a child prints on stdout.
type childResult struct {
	Listed  int `json:"listed"`
	Deleted int `json:"deleted"`
	Failed  int `json:"failed"`
	// Requests the child's HTTP transport sent (a cross-check of the API
	// server's own count), and the response bytes it read.
	Requests      int64  `json:"requests"`
	ResponseBytes int64  `json:"responseBytes"`
	FirstErr      string `json:"firstError,omitempty"`
	// With -mixed: how many deletes went without and with a
	// resourceVersion precondition, and the time each kind took in all.
	UIDDeletes int   `json:"uidDeletes,omitempty"`
	RVDeletes  int   `json:"rvDeletes,omitempty"`
	UIDNanos   int64 `json:"uidNanos,omitempty"`
	RVNanos    int64 `json:"rvNanos,omitempty"`
}

// countingTransport counts the HTTP requests a client sends and the
// response bytes it reads.
type countingTransport struct {
	next     http.RoundTripper
	n, bytes *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	resp, err := t.next.RoundTrip(r)
	if resp != nil && resp.Body != nil {
		resp.Body = countingBody{ReadCloser: resp.Body, n: t.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func runChild(name string, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig")
	ns := fs.String("n", "", "namespace")
	workers := fs.Int("workers", 32, "concurrent deletes (floor)")
	withRV := fs.Bool("rv", false, "floor: a resourceVersion precondition beside the UID one")
	mixed := fs.Bool("mixed", false, "floor: a resourceVersion precondition on every second delete only, each delete timed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.QPS = -1 // no client-side rate limit
	var n, received atomic.Int64
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return countingTransport{next: rt, n: &n, bytes: &received}
	})
	ctx := context.Background()
	var res childResult
	switch name {
	case childFloor:
		res, err = floor(ctx, cfg, *ns, *workers, *withRV, *mixed)
	case childDeleteCollection:
		res, err = deleteCollection(ctx, cfg, *ns)
	default:
		err = fmt.Errorf("unknown child %s", name)
	}
	res.Requests, res.ResponseBytes = n.Load(), received.Load()
	if err != nil {
		res.FirstErr = err.Error()
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
	if err != nil {
		return 1
	}
	return 0
}

// floor is the least work any careful client must do: list the maps'
// metadata (for their UIDs), then delete each with a UID precondition (and
// with withRV a resourceVersion one), 32 at a time, with no checks at all.
// With mixed, every second delete has the resourceVersion precondition and
// every delete is timed: the two kinds then share the same moments, workers
// and server, and the difference of their mean times is the precondition's
// cost, free of the drift between two runs.
func floor(ctx context.Context, cfg *rest.Config, ns string, workers int, withRV, mixed bool) (childResult, error) {
	var res childResult
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	type target struct {
		name, uid, rv string
	}
	var targets []target
	maps := md.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(ns)
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return maps.List(ctx, opts)
	})
	p.PageSize = 500
	err = p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		m := obj.(*metav1.PartialObjectMetadata)
		targets = append(targets, target{m.Name, string(m.UID), m.ResourceVersion})
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Listed = len(targets)
	var (
		next             atomic.Int64
		deleted, failed  atomic.Int64
		nanos, counts    [2]atomic.Int64 // without, with resourceVersion
		wg               sync.WaitGroup
		firstErrOnce     sync.Once
		firstErr         error
		configMapsClient = kube.CoreV1().ConfigMaps(ns)
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(targets) {
					return
				}
				t := targets[i]
				pre := metav1.NewUIDPreconditions(t.uid)
				rv := withRV || (mixed && i%2 == 1)
				if rv {
					pre.ResourceVersion = &t.rv
				}
				start := time.Now()
				err := configMapsClient.Delete(ctx, t.name, metav1.DeleteOptions{Preconditions: pre})
				if mixed {
					k := 0
					if rv {
						k = 1
					}
					nanos[k].Add(int64(time.Since(start)))
					counts[k].Add(1)
				}
				switch {
				case err == nil, apierrors.IsNotFound(err):
					deleted.Add(1)
				default:
					failed.Add(1)
					firstErrOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	wg.Wait()
	res.Deleted, res.Failed = int(deleted.Load()), int(failed.Load())
	res.UIDDeletes, res.RVDeletes = int(counts[0].Load()), int(counts[1].Load())
	res.UIDNanos, res.RVNanos = nanos[0].Load(), nanos[1].Load()
	return res, firstErr
}

// deleteCollection is one server-side DeleteCollection of every ConfigMap in
// the namespace: no label selects the unlabelled driver, pod-template,
// Hadoop and krb5 maps, so nothing narrower would take the backlog.
func deleteCollection(ctx context.Context, cfg *rest.Config, ns string) (childResult, error) {
	var res childResult
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	// The API server may end a long DeleteCollection at its request timeout
	// (60s) while it keeps deleting; ask again until nothing is left.
	for attempt := 1; ; attempt++ {
		err = kube.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		if err == nil || attempt == 5 || !(apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)) {
			return res, err
		}
		time.Sleep(time.Second)
	}
}

// proc is one finished child process.
type proc struct {
	wall     time.Duration
	maxRSS   int64 // KiB; 0 when it could not be measured
	exitCode int
	stdout   []byte
	stderr   []byte
}

// gnuTime is GNU time, which measures a child's peak RSS correctly; "" when
// it is not installed.
//
// A Go program cannot read that number itself: Go starts children with
// clone(CLONE_VM|CLONE_VFORK), and Linux carries the high-water RSS of the
// memory the child ran in before exec (this program's) into the child's
// ru_maxrss, so cmd.ProcessState's rusage reports at least this program's own
// peak. GNU time forks for real (its own RSS is about 1 MiB) and reports
// the child's wait4 rusage.
var gnuTime = func() string {
	p, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		return ""
	}
	if out, err := exec.Command(p, "--version").CombinedOutput(); err != nil || !bytes.Contains(out, []byte("GNU")) {
		return ""
	}
	return p
}()

// run starts a program, waits for it, and measures its wall time and (with
// GNU time) its peak RSS. For a shell script that is the largest single
// process the shell waited for, not their sum.
func run(ctx context.Context, env []string, name string, args ...string) (proc, error) {
	var rssFile string
	if gnuTime != "" {
		f, err := os.CreateTemp("", "sparkcm-bench-rss-")
		if err != nil {
			return proc{}, err
		}
		rssFile = f.Name()
		_ = f.Close()
		defer func() { _ = os.Remove(rssFile) }()
		args = append([]string{"-f", "%M", "-o", rssFile, name}, args...)
		name = gnuTime
	}
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	p := proc{wall: time.Since(start), stdout: stdout.Bytes(), stderr: stderr.Bytes()}
	if cmd.ProcessState != nil {
		p.exitCode = cmd.ProcessState.ExitCode()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return p, fmt.Errorf("run %s: %w", name, err)
	}
	if rssFile != "" {
		// GNU time writes "Command exited with non-zero status N" first
		// when the child failed; the number is the last line.
		out, err := os.ReadFile(rssFile)
		if err != nil {
			return p, err
		}
		lines := strings.Fields(string(out))
		if len(lines) > 0 {
			p.maxRSS, _ = strconv.ParseInt(lines[len(lines)-1], 10, 64)
		}
	}
	return p, nil
}
