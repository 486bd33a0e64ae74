package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// TestTheControllerCleansUntilStoppedThenPrintsItsTotalAndExitsZero runs
// `controller` as a user would, on a namespace holding one application
// that had finished before it started (the fallback sweep's, at start,
// with --older-than 0s) and one that ends while it runs (the work
// queue's). Stopped (as by SIGTERM), it exits 0 and prints the total.
func TestTheControllerCleansUntilStoppedThenPrintsItsTotalAndExitsZero(t *testing.T) {
	ns := cp.NewNamespace(t)
	before := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true})
	during := newApp(t, ns, sparkfixture.Spec{NoSparkApplication: true, State: sparkfixture.StateRunning})
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var out bytes.Buffer
	errOut := &loggedOnce{logged: make(chan struct{})}
	code := make(chan int, 1)
	go func() {
		code <- RunContext(ctx, []string{"sparkcm-hook", "controller", "--kubeconfig", kc, "--older-than", "0s", "--grace", "0s", "-o", "json"},
			strings.NewReader(""), &out, errOut)
	}()
	// The command routes client-go's process-wide klog into its own log as
	// it starts; the test's own client calls wait until it has (its first
	// log line comes after), or the race detector sees both at once.
	select {
	case <-errOut.logged:
	case c := <-code:
		t.Fatalf("the controller ended at once with exit %d: %s", c, errOut.String())
	case <-time.After(time.Minute):
		t.Fatal("the controller logged nothing in a minute")
	}
	kube, _ := clients(t)
	gone := func(app *sparkfixture.App) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) {
			names := app.MapNames()
			for _, n := range mapNames(t, ns) {
				if slices.Contains(names, n) {
					return false, nil
				}
			}
			return true, nil
		}
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 2*time.Minute, true, gone(before)); err != nil {
		t.Fatalf("the application that finished before the controller started kept its maps %v: %v", mapNames(t, ns), err)
	}
	if got := len(mapNames(t, ns)); got != len(during.MapNames()) {
		t.Fatalf("the running application's maps: %v, want %v", mapNames(t, ns), during.MapNames())
	}
	if err := sparkfixture.SetPodPhase(t.Context(), kube, ns, during.DriverPod, corev1.PodSucceeded); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 2*time.Minute, true, gone(during)); err != nil {
		t.Fatalf("the application that ended while the controller ran kept its maps %v: %v", mapNames(t, ns), err)
	}
	stop()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d, want 0; stderr %s", c, errOut.String())
	}
	var doc hook.Document
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("stdout is not a JSON document: %v\n%s", err, out.String())
	}
	if want := len(before.MapNames()) + len(during.MapNames()); doc.Counts.Deleted != want || doc.Counts.Failed != 0 {
		t.Errorf("the total says %+v, want %d deleted, none failed", doc.Counts, want)
	}
}

// loggedOnce is a command's stderr that says when the first line came.
type loggedOnce struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	logged chan struct{}
	once   sync.Once
}

func (w *loggedOnce) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.logged) })
	return w.buf.Write(p)
}

func (w *loggedOnce) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// mapNames lists the namespace's ConfigMaps (kube-root-ca.crt aside).
func mapNames(t *testing.T, ns string) []string {
	t.Helper()
	kube, _ := clients(t)
	list, err := kube.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range list.Items {
		if m.Name != "kube-root-ca.crt" {
			names = append(names, m.Name)
		}
	}
	return names
}
