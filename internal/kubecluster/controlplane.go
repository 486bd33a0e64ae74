package kubecluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options choose what Start runs.
type Options struct {
	// ControllerManager also starts kube-controller-manager with the garbage
	// collector, clusterrole-aggregation, serviceaccount and
	// serviceaccount-token controllers. Without it nothing deletes dependents.
	ControllerManager bool
	// ReadyTimeout bounds the wait for each component to become ready once its
	// binary runs (default 60s). Building the binaries is bounded by ctx only.
	ReadyTimeout time.Duration
	// APIServerFlags are appended to kube-apiserver's command line.
	APIServerFlags []string
	// EtcdFlags are appended to etcd's (the benchmarks at scale raise
	// --quota-backend-bytes).
	EtcdFlags []string
	// Node also runs a node: kube-scheduler, containerd with runc and a
	// kubelet, so Pods really run (see node.go: images, network, logs). It
	// implies ControllerManager, with the job and root-ca-cert-publisher
	// controllers too. It needs root; otherwise Start fails with ErrNoNode.
	Node bool
	// ApacheCRD also installs the Apache Spark Kubernetes Operator's
	// SparkApplication CRD (spark.apache.org) beside the Kubeflow one.
	ApacheCRD bool
}

// ControlPlane is a running etcd + kube-apiserver (+ kube-controller-manager).
type ControlPlane struct {
	host    string
	etcdURL string
	pki     *pki
	dir     string
	procs   []*process // in start order
	node    *node      // nil without Options.Node
	stopMu  sync.Once
	// api is how kube-apiserver was started, so that it can be started
	// again on the same port over the same etcd (see restart.go).
	api apiServerRun
}

// Start starts the control plane and returns once the API server is ready, the
// SparkApplication CRD is established and (if asked) the controller-manager is
// up. ctx bounds the start only; the processes run until Stop or until the
// calling process dies.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if shortTest() {
		return nil, ErrShort
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	bins, err := BinDir(ctx)
	if err != nil {
		return nil, err
	}
	// A free port found by freePort can be taken before the child binds it;
	// that is rare, so a few fresh attempts are enough.
	for attempt := 1; ; attempt++ {
		cp, err := start(ctx, bins, opts)
		if err == nil {
			return cp, nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
}

func start(ctx context.Context, bins string, opts Options) (_ *ControlPlane, err error) {
	removeStaleDirs()
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	cp := &ControlPlane{dir: dir}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, fmt.Errorf("write owner pid: %w", err)
	}
	if cp.pki, err = newPKI(); err != nil {
		return nil, err
	}
	if err := cp.pki.write(dir); err != nil {
		return nil, err
	}

	etcdURL, err := cp.startEtcd(ctx, bins, opts.ReadyTimeout, opts.EtcdFlags)
	if err != nil {
		return nil, err
	}
	if err := cp.startAPIServer(ctx, bins, etcdURL, opts); err != nil {
		return nil, err
	}
	// The CRD goes in before the controller-manager starts, so the garbage
	// collector knows SparkApplications from its first discovery.
	if err := cp.installCRDs(ctx, opts.ReadyTimeout); err != nil {
		return nil, err
	}
	if opts.ApacheCRD {
		if err := cp.InstallApacheCRD(ctx, opts.ReadyTimeout); err != nil {
			return nil, err
		}
	}
	if opts.ControllerManager || opts.Node {
		controllers := baseControllers
		if opts.Node {
			// Jobs (the chart's CronJob) need the job controller; every Pod's
			// kube-api-access volume needs the kube-root-ca.crt map; the
			// chart's controller mode is a Deployment with a
			// PodDisruptionBudget.
			controllers += ",job,root-ca-cert-publisher,deployment,replicaset,disruption"
		}
		if err := cp.startControllerManager(ctx, bins, controllers, opts.ReadyTimeout); err != nil {
			return nil, err
		}
	}
	if opts.Node {
		if err := cp.startNode(ctx, opts.ReadyTimeout); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

func (c *ControlPlane) startEtcd(ctx context.Context, bins string, timeout time.Duration, extra []string) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	args := append([]string{
		"--name=testbed",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=testbed=" + peerURL,
		// The data is thrown away after the test: fsync buys nothing but time.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}, extra...)
	p, err := startProcess("etcd", c.dir, filepath.Join(bins, "etcd"), args...)
	if err != nil {
		return "", err
	}
	c.procs = append(c.procs, p)
	err = waitReady(ctx, p, timeout, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, clientURL+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("etcd /health: %s", resp.Status)
		}
		return nil
	})
	c.etcdURL = clientURL
	return clientURL, err
}

func (c *ControlPlane) startAPIServer(ctx context.Context, bins, etcdURL string, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.host = "https://127.0.0.1:" + strconv.Itoa(port)
	f := func(name string) string { return filepath.Join(c.dir, name) }
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + f("apiserver-certs"),
		"--tls-cert-file=" + f("apiserver.crt"),
		"--tls-private-key-file=" + f("apiserver.key"),
		"--client-ca-file=" + f("ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f("sa.pub"),
		"--service-account-signing-key-file=" + f("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		// Endpoints may not point at loopback, so the default "lease" reconciler
		// would log a rejected write every few seconds; nothing here needs the
		// kubernetes Service's endpoints.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	// All default admission plugins stay on, ServiceAccount included: it adds
	// the kube-api-access projected volume to every Pod, as on a real cluster.
	// CreateNamespace creates the "default" ServiceAccount it requires.
	args = append(args, opts.APIServerFlags...)
	c.api = apiServerRun{bin: filepath.Join(bins, "kube-apiserver"), args: args, index: len(c.procs), timeout: opts.ReadyTimeout}
	return c.runAPIServer(ctx)
}

func (c *ControlPlane) runAPIServer(ctx context.Context) error {
	p, err := startProcess("kube-apiserver", c.dir, c.api.bin, c.api.args...)
	if err != nil {
		return err
	}
	if c.api.index < len(c.procs) {
		c.procs[c.api.index] = p
	} else {
		c.procs = append(c.procs, p)
	}
	rc := c.Clientset().Discovery().RESTClient()
	return waitReady(ctx, p, c.api.timeout, func(ctx context.Context) error {
		return rc.Get().AbsPath("/readyz").Do(ctx).Error()
	})
}

// baseControllers are the controllers Options.ControllerManager starts.
const baseControllers = "garbagecollector,clusterrole-aggregation,serviceaccount,serviceaccount-token"

// StartControllerManager starts kube-controller-manager, as
// Options.ControllerManager does, on a control plane started without it:
// a benchmark measures the garbage collector last, after rows that must
// run with nothing else acting on the cluster. It returns once the
// controller-manager is up; Stop stops it with the rest.
func (c *ControlPlane) StartControllerManager(ctx context.Context) error {
	bins, err := BinDir(ctx)
	if err != nil {
		return err
	}
	return c.startControllerManager(ctx, bins, baseControllers, 60*time.Second)
}

func (c *ControlPlane) startControllerManager(ctx context.Context, bins, controllers string, timeout time.Duration) error {
	kubeconfig := filepath.Join(c.dir, "controller-manager.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, c.AdminConfig(), ""); err != nil {
		return err
	}
	p, err := startProcess("kube-controller-manager", c.dir, filepath.Join(bins, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--controllers="+controllers,
		"--leader-elect=false",
		"--secure-port=0", // no health endpoint needed; readiness is judged by its effects below
		"--service-account-private-key-file="+filepath.Join(c.dir, "sa.key"),
		"--root-ca-file="+filepath.Join(c.dir, "ca.crt"),
		"--use-service-account-credentials=false",
	)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	// The serviceaccount controller creating "default" in kube-system proves
	// the controller-manager is connected and its informers have synced.
	kube := c.Clientset()
	return waitReady(ctx, p, timeout, func(ctx context.Context) error {
		_, err := kube.CoreV1().ServiceAccounts(metav1.NamespaceSystem).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// waitReady polls check until it succeeds, the process exits, or timeout.
func waitReady(ctx context.Context, p *process, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := p.running(); err != nil {
			return false, err
		}
		last = check(ctx)
		return last == nil, nil
	})
	if err == nil {
		return nil
	}
	if perr := p.running(); perr != nil {
		return perr
	}
	if !wait.Interrupted(err) {
		return err
	}
	return fmt.Errorf("%s not ready after %s (last check: %w); last log lines:\n%s", p.name, timeout, last, p.tail())
}

// Stop kills every process and removes the temp dir. Safe to call twice.
func (c *ControlPlane) Stop() {
	c.stopMu.Do(func() {
		if c.node != nil {
			c.node.stop()
		}
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop()
		}
		if c.dir != "" {
			removeDir(c.dir)
		}
	})
}

// PIDs are the process ids of the running components, for tests that prove
// nothing is left behind.
func (c *ControlPlane) PIDs() []int {
	pids := make([]int, 0, len(c.procs))
	for _, p := range c.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	return pids
}

// Host is the API server's URL.
func (c *ControlPlane) Host() string { return c.host }

// AdminConfig returns a fresh config for a member of system:masters. Its rate
// limit is high (QPS 500, burst 1000) so fixtures fill a namespace quickly;
// lower it on the copy when a test needs client-side throttling.
func (c *ControlPlane) AdminConfig() *rest.Config {
	return &rest.Config{
		Host: c.host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   c.pki.caCert,
			CertData: c.pki.adminCert,
			KeyData:  c.pki.adminKey,
		},
		QPS:   500,
		Burst: 1000,
	}
}

// Clientset is a typed admin client.
func (c *ControlPlane) Clientset() kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(c.AdminConfig())
}

// Dynamic is a dynamic admin client (for SparkApplications).
func (c *ControlPlane) Dynamic() dynamic.Interface {
	return dynamic.NewForConfigOrDie(c.AdminConfig())
}

// CreateNamespace creates a namespace and its "default" ServiceAccount. The
// serviceaccount controller would create that account eventually (when the
// controller-manager runs at all), but the ServiceAccount admission plugin
// rejects Pods until it exists; creating it here avoids both the race and
// turning the plugin off.
func (c *ControlPlane) CreateNamespace(ctx context.Context, name string) error {
	kube := c.Clientset()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	if err := ensureServiceAccount(ctx, kube, name, "default"); err != nil {
		return err
	}
	return nil
}

func ensureServiceAccount(ctx context.Context, kube kubernetes.Interface, ns, name string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create serviceaccount %s/%s: %w", ns, name, err)
	}
	return nil
}

// ServiceAccountConfig returns a config that authenticates as the
// ServiceAccount ns/name with a bearer token from the TokenRequest API, the way
// a Pod's projected token does. It creates the ServiceAccount if missing; the
// account has no permissions beyond what RBAC grants it.
func (c *ControlPlane) ServiceAccountConfig(ctx context.Context, ns, name string) (*rest.Config, error) {
	kube := c.Clientset()
	if err := ensureServiceAccount(ctx, kube, ns, name); err != nil {
		return nil, err
	}
	expiry := int64(3600)
	tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token for serviceaccount %s/%s: %w", ns, name, err)
	}
	return &rest.Config{
		Host:            c.host,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.pki.caCert},
		BearerToken:     tr.Status.Token,
	}, nil
}

// WriteKubeconfig writes cfg as a kubeconfig file with one context whose
// namespace is namespace (empty: none), so CLIs and scripts can use it through
// KUBECONFIG. Credentials are embedded; the file is written with mode 0600.
func WriteKubeconfig(path string, cfg *rest.Config, namespace string) error {
	if cfg.Username != "" || cfg.ExecProvider != nil || cfg.AuthProvider != nil || cfg.BearerTokenFile != "" {
		return errors.New("write kubeconfig: only CA, client certificate and bearer token credentials are supported")
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testbed"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["testbed"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts["testbed"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "testbed", Namespace: namespace}
	kc.CurrentContext = "testbed"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// removeDir removes a control plane's temp dir, its owner pid file last: if
// anything cannot be removed (a mount that would not go), the file stays and
// the next Start removes the rest once this process is gone.
func removeDir(dir string) {
	entries, _ := os.ReadDir(dir)
	failed := false
	for _, e := range entries {
		if e.Name() != ownerFile {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				failed = true
			}
		}
	}
	if !failed {
		_ = os.RemoveAll(dir)
	}
}

const (
	tempDirPrefix = "sparkcm-testbed-"
	ownerFile     = "owner.pid"
)

// removeStaleDirs deletes the temp dirs (mostly etcd data, ~130 MB each) of
// control planes whose owner died without Stop: killed by go test -timeout,
// SIGKILL or a crash. Pdeathsig takes the processes down, but nothing else
// would remove their files.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempDirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue // being created right now, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			cleanupNodeDir(filepath.Join(d, "node"))
			_ = os.RemoveAll(d)
		}
	}
}

// NodePIDs are the process ids of the node right now: kube-scheduler,
// containerd, the kubelet, containerd's shims and each container's init
// process; empty without Options.Node.
func (c *ControlPlane) NodePIDs() []int {
	if c.node == nil {
		return nil
	}
	var pids []int
	for _, p := range c.node.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	pids = append(pids, shimPIDs(c.node.sock)...)
	return append(pids, containerPIDs(c.node.dir)...)
}

// NodeHostFiles are the files the node keeps outside its dir right now: the
// shims' sockets in /run/containerd/s and the kubelet's log links in
// /var/log/containers; empty without Options.Node.
func (c *ControlPlane) NodeHostFiles() []string {
	if c.node == nil {
		return nil
	}
	var out []string
	for _, s := range shimSockets(c.node.sock, c.node.dir) {
		if _, err := os.Lstat(s); err == nil {
			out = append(out, s)
		}
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, c.node.dir+"/") {
			out = append(out, l)
		}
	}
	return out
}

// Dir is the control plane's temp dir (the node's state is in its "node"
// folder); Stop removes it.
func (c *ControlPlane) Dir() string { return c.dir }
