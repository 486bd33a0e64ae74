package kubecluster

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// apiServerRun is how kube-apiserver was started.
type apiServerRun struct {
	bin     string
	args    []string
	index   int // in ControlPlane.procs
	timeout time.Duration
}

// StopAPIServer kills kube-apiserver (SIGKILL, as an OOM kill or a node
// loss would), leaving etcd and the controller-manager running: clients
// then meet refused connections, and the answers of requests in flight are
// lost. StartAPIServer brings it back.
func (c *ControlPlane) StopAPIServer() {
	c.procs[c.api.index].stop()
}

// StartAPIServer starts kube-apiserver again with the same flags, on the
// same port, over the same etcd, and returns once it is ready. The port was
// freed by StopAPIServer; another process may take it meanwhile, which is
// retried for a few seconds.
func (c *ControlPlane) StartAPIServer(ctx context.Context) error {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if err = c.runAPIServer(ctx); err == nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// RestartAPIServer stops kube-apiserver, keeps it down for down, and starts
// it again (see StopAPIServer and StartAPIServer).
func (c *ControlPlane) RestartAPIServer(ctx context.Context, down time.Duration) error {
	c.StopAPIServer()
	select {
	case <-time.After(down):
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.StartAPIServer(ctx)
}
