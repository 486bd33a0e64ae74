package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

func TestUpServesTheKubeconfigUntilCancelledThenStopsAndRemovesReady(t *testing.T) {
	kubecluster.SkipIfShort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"up", "--dir", dir}, &stdout, &stderr) }()

	ready := filepath.Join(dir, "ready")
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer waitCancel()
	err := wait.PollUntilContextCancel(waitCtx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		select {
		case err := <-done:
			t.Fatalf("run returned before ready: %v\n%s", err, stderr.String())
		default:
		}
		_, err := os.Stat(ready)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no ready marker: %v", err)
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	t.Setenv("KUBECONFIG", kubeconfig)
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil)
	ns, _, err := loader.Namespace()
	if err != nil || ns != "default" {
		t.Fatalf("kubeconfig namespace %q, %v", ns, err)
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 5 * time.Second
	kube := kubernetes.NewForConfigOrDie(cfg)
	if _, err := kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("default namespace not usable through the kubeconfig: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return after cancel")
	}
	if got := strings.TrimSpace(stdout.String()); got != kubeconfig {
		t.Errorf("stdout %q, want the kubeconfig path %q", got, kubeconfig)
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("ready marker still there after stop: %v", err)
	}
	if _, err := kube.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err == nil {
		t.Error("API server still answers after stop")
	}
}
