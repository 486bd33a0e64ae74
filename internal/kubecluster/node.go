package kubecluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// Images on the test node. imagePullPolicy must be Never: no registry is
// reachable, and the node's containerd holds only what the testbed imported.
const (
	// HookImage is the sparkcm-hook image, built by tools/image from the
	// same static binary `make build` makes (SPARKCM_BIN when set).
	HookImage = "sparkcm-hook:testbed"
	// StubImage runs internal/cmd/podstub: with no arguments it waits for
	// SIGTERM; `-run 3s -exit 0` is a Spark driver or executor that finishes.
	StubImage = "sparkcm-testbed/podstub:latest"
	// sandboxImage is the Pod sandbox (what registry.k8s.io/pause is on a
	// real node): podstub waiting for SIGTERM.
	sandboxImage = "sparkcm-testbed/pause:latest"
)

// EnvNodeBinDir names a folder holding kubelet and kube-scheduler; when unset,
// hack/node.sh builds (or finds in its cache) the pinned versions.
const EnvNodeBinDir = "SPARKCM_NODE_BIN"

// ErrNoNode is returned (wrapped, with the reason) by Start with Options.Node
// when no node can run on this machine: not root, or containerd and runc
// missing. Tests skip on it.
var ErrNoNode = errors.New("no test node on this machine")

// NodeUnavailable says in one line why no node can run here, or "" when one
// can. It starts nothing.
func NodeUnavailable() string {
	if os.Geteuid() != 0 {
		return "node: not root: a kubelet with containerd and runc needs root"
	}
	return ""
}

// node is kube-scheduler, containerd (with runc through its shim) and a
// kubelet, all with their state in dir (inside the control plane's temp
// dir) and talking only over loopback and unix sockets there.
type node struct {
	dir     string
	name    string
	sock    string // containerd's gRPC socket
	logsDir string // the kubelet's podLogsDir
	procs   []*process
}

func (n *node) path(p ...string) string { return filepath.Join(append([]string{n.dir}, p...)...) }

// startNode runs after the controller-manager: Pods need the kube-root-ca.crt
// map it publishes, and Jobs need its job controller.
func (c *ControlPlane) startNode(ctx context.Context, timeout time.Duration) (err error) {
	if why := NodeUnavailable(); why != "" {
		return fmt.Errorf("%w: %s", ErrNoNode, why)
	}
	bins, err := NodeBinDir(ctx)
	if err != nil {
		return err
	}
	n := &node{dir: filepath.Join(c.dir, "node"), name: "sparkcm-node-" + randomSuffix(5)}
	n.sock = n.path("containerd.sock")
	n.logsDir = n.path("pod-logs")
	c.node = n
	for _, d := range []string{"cni", "pod-logs", "images", "kubelet", "kubelet-pki", "volume-plugins"} {
		if err := os.MkdirAll(n.path(d), 0o755); err != nil {
			return fmt.Errorf("node dir: %w", err)
		}
	}
	images, err := buildNodeImages(ctx, n.path("images"))
	if err != nil {
		return err
	}
	if err := n.startContainerd(ctx, timeout); err != nil {
		return err
	}
	for _, img := range images {
		if err := n.ctr(ctx, "images", "import", "--digests", "--snapshotter=overlayfs", img); err != nil {
			return err
		}
	}
	if err := c.installNodeNetwork(ctx, timeout); err != nil {
		return err
	}
	kubeconfig := n.path("admin.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, c.AdminConfig(), ""); err != nil {
		return err
	}
	sched, err := startProcess("kube-scheduler", n.dir, filepath.Join(bins, "kube-scheduler"),
		"--kubeconfig="+kubeconfig,
		"--authentication-kubeconfig="+kubeconfig,
		"--authorization-kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, sched)
	if err := n.startKubelet(bins, kubeconfig); err != nil {
		return err
	}
	return c.waitNodeReady(ctx, timeout)
}

func (n *node) startContainerd(ctx context.Context, timeout time.Duration) error {
	cni := `{"cniVersion": "0.4.0", "name": "loopback", "plugins": [{"type": "loopback"}]}`
	if err := os.WriteFile(n.path("cni", "10-loopback.conflist"), []byte(cni), 0o644); err != nil {
		return fmt.Errorf("cni config: %w", err)
	}
	cniBin := "/usr/lib/cni"
	if _, err := os.Stat(filepath.Join(cniBin, "loopback")); err != nil {
		cniBin = "/opt/cni/bin"
	}
	// restrict_oom_score_adj: the kubelet asks for oom_score_adj -998 for the
	// sandbox, which runc cannot set below its own and fails with "can't get
	// final child's PID from pipe". runc's Root keeps container state in the
	// node's dir, so a stale node's containers can be found and removed.
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[8]q
    conf_dir = %[9]q
`, n.path("containerd", "root"), n.path("containerd", "state"), n.sock, n.sock+".ttrpc",
		n.path("containerd", "opt"), "docker.io/"+sandboxImage, n.path("runc"), cniBin, n.path("cni"))
	if err := os.WriteFile(n.path("containerd.toml"), []byte(config), 0o644); err != nil {
		return fmt.Errorf("containerd config: %w", err)
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return fmt.Errorf("%w: containerd: %w", ErrNoNode, err)
	}
	p, err := startProcess("containerd", n.dir, bin, "--config", n.path("containerd.toml"), "--log-level", "warn")
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	return waitReady(ctx, p, timeout, func(ctx context.Context) error {
		return n.ctr(ctx, "version")
	})
}

// ctr runs containerd's own CLI against this node's containerd.
func (n *node) ctr(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (n *node) startKubelet(bins, kubeconfig string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	// Only what this machine kind needs and what keeps the node inside its
	// dir: cgroup v1 with cgroupfs, no QoS cgroups, no node allocatable
	// enforcement, no DNS, no image garbage collection or eviction getting in
	// the way of a test, and the API server never dialling back (the
	// container logs are read from podLogsDir).
	cfg := map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"address":                     "127.0.0.1",
		"port":                        port,
		"readOnlyPort":                0,
		"healthzPort":                 0,
		"authentication":              map[string]any{"anonymous": map[string]any{"enabled": false}, "webhook": map[string]any{"enabled": false}},
		"authorization":               map[string]any{"mode": "AlwaysAllow"},
		"cgroupDriver":                "cgroupfs",
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"cgroupsPerQOS":               false,
		"enforceNodeAllocatable":      []string{},
		"resolvConf":                  "",
		"containerRuntimeEndpoint":    "unix://" + n.sock,
		"podLogsDir":                  n.logsDir,
		"volumePluginDir":             n.path("volume-plugins"),
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard":                map[string]string{"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		"registerNode":                true,
		"nodeStatusUpdateFrequency":   "2s",
		"syncFrequency":               "5s",
		"serializeImagePulls":         false,
		"shutdownGracePeriod":         "0s",
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("kubelet config: %w", err)
	}
	if err := os.WriteFile(n.path("kubelet.yaml"), b, 0o644); err != nil {
		return fmt.Errorf("kubelet config: %w", err)
	}
	p, err := startProcess("kubelet", n.dir, filepath.Join(bins, "kubelet"),
		"--config="+n.path("kubelet.yaml"),
		"--kubeconfig="+kubeconfig,
		"--root-dir="+n.path("kubelet"),
		"--cert-dir="+n.path("kubelet-pki"),
		"--hostname-override="+n.name,
		"--v=1",
	)
	if err != nil {
		return err
	}
	n.procs = append(n.procs, p)
	return nil
}

// waitNodeReady waits for the kubelet to report Ready, then lifts the
// not-ready taint it registered with: only the node-lifecycle controller
// would, and nothing else here needs that controller.
func (c *ControlPlane) waitNodeReady(ctx context.Context, timeout time.Duration) error {
	n := c.node
	kubelet := n.procs[len(n.procs)-1]
	kube := c.Clientset()
	return waitReady(ctx, kubelet, timeout, func(ctx context.Context) error {
		for _, p := range n.procs {
			if err := p.running(); err != nil {
				return err
			}
		}
		node, err := kube.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ready := false
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
		if !ready {
			return fmt.Errorf("node %s not Ready", n.name)
		}
		var keep []corev1.Taint
		for _, t := range node.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady && t.Key != corev1.TaintNodeUnreachable {
				keep = append(keep, t)
			}
		}
		if len(keep) != len(node.Spec.Taints) {
			node.Spec.Taints = keep
			if _, err := kube.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
				return err
			}
			return errors.New("taint lifted; checking again")
		}
		return nil
	})
}

var mapResource = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicies"}
var mapBindingResource = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicybindings"}

// installNodeNetwork is the test node's "network": there is none besides
// loopback, so every Pod runs in the host's network namespace and finds the
// API server at 127.0.0.1:<port> through KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT, which take precedence over the kubelet's values for
// the kubernetes Service (a ClusterIP nothing routes). A MutatingAdmissionPolicy
// sets both on every Pod, so the chart, the Airflow examples and the product's
// in-cluster configuration run unchanged, as they would behind kube-proxy.
func (c *ControlPlane) installNodeNetwork(ctx context.Context, timeout time.Duration) error {
	port := c.host[strings.LastIndexByte(c.host, ':')+1:]
	env := fmt.Sprintf(`[Object.spec.containers.env{name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1"}, Object.spec.containers.env{name: "KUBERNETES_SERVICE_PORT", value: %q}]`, port)
	initEnv := strings.ReplaceAll(env, "Object.spec.containers.env", "Object.spec.initContainers.env")
	expr := `Object{spec: Object.spec{hostNetwork: true, containers: object.spec.containers.map(c, Object.spec.containers{name: c.name, env: ` + env + `})}}`
	initExpr := `Object{spec: Object.spec{initContainers: object.spec.initContainers.map(c, Object.spec.initContainers{name: c.name, env: ` + initEnv + `})}}`
	policy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "admissionregistration.k8s.io/v1",
		"kind":       "MutatingAdmissionPolicy",
		"metadata":   map[string]any{"name": "sparkcm-testbed-node-network"},
		"spec": map[string]any{
			"failurePolicy":      "Fail",
			"reinvocationPolicy": "Never",
			"matchConstraints": map[string]any{"resourceRules": []any{map[string]any{
				"apiGroups": []any{""}, "apiVersions": []any{"v1"}, "operations": []any{"CREATE"}, "resources": []any{"pods"},
			}}},
			"mutations": []any{
				map[string]any{"patchType": "ApplyConfiguration", "applyConfiguration": map[string]any{"expression": expr}},
			},
		},
	}}
	initPolicy := policy.DeepCopy()
	initPolicy.SetName("sparkcm-testbed-node-network-init")
	_ = unstructured.SetNestedSlice(initPolicy.Object, []any{
		map[string]any{"patchType": "ApplyConfiguration", "applyConfiguration": map[string]any{"expression": initExpr}},
	}, "spec", "mutations")
	_ = unstructured.SetNestedSlice(initPolicy.Object, []any{
		map[string]any{"name": "has-init-containers", "expression": "has(object.spec.initContainers) && size(object.spec.initContainers) > 0"},
	}, "spec", "matchConditions")
	dyn := c.Dynamic()
	for _, p := range []*unstructured.Unstructured{policy, initPolicy} {
		if _, err := dyn.Resource(mapResource).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create MutatingAdmissionPolicy %s: %w", p.GetName(), err)
		}
		binding := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "admissionregistration.k8s.io/v1",
			"kind":       "MutatingAdmissionPolicyBinding",
			"metadata":   map[string]any{"name": p.GetName()},
			"spec":       map[string]any{"policyName": p.GetName()},
		}}
		if _, err := dyn.Resource(mapBindingResource).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create MutatingAdmissionPolicyBinding %s: %w", p.GetName(), err)
		}
	}
	// The policy works once the API server's informers have it: a dry-run Pod
	// shows when.
	kube := c.Clientset()
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "network-probe", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "c", Image: StubImage}},
			InitContainers: []corev1.Container{{Name: "i", Image: StubImage}},
		},
	}
	if err := ensureServiceAccount(ctx, kube, metav1.NamespaceDefault, "default"); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		got, err := kube.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && !apierrors.IsForbidden(err) {
			return fmt.Errorf("dry-run probe pod: %w", err)
		}
		if err == nil && got.Spec.HostNetwork && hasEnv(got.Spec.Containers[0], "KUBERNETES_SERVICE_PORT", port) &&
			hasEnv(got.Spec.InitContainers[0], "KUBERNETES_SERVICE_PORT", port) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node network policy not in effect after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func hasEnv(c corev1.Container, name, value string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}

// stop kills the node's processes and containers and unmounts what the
// kubelet and containerd mounted, so the control plane's Stop can remove the
// dir.
func (n *node) stop() {
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.procs[i].stop()
	}
	cleanupNodeDir(n.dir)
}

// cleanupNodeDir removes what a node leaves outside its processes: the
// containers (each its own process tree under the shim, which outlives
// containerd on purpose), the shims, the mounts under dir and the kubelet's
// log symlinks in /var/log/containers. It works for a node whose testbed
// was killed as well as for a stopped one: everything is found from dir.
func cleanupNodeDir(dir string) {
	if _, err := os.Stat(dir); err != nil {
		return
	}
	runcRoot := filepath.Join(dir, "runc", "k8s.io")
	if ids, err := os.ReadDir(runcRoot); err == nil {
		for _, id := range ids {
			// --force kills every process of the container, then removes its
			// cgroups and state.
			_ = exec.Command("runc", "--root", runcRoot, "delete", "--force", id.Name()).Run()
		}
	}
	sock := filepath.Join(dir, "containerd.sock")
	sockets := shimSockets(sock, dir)
	killShims(sock)
	for _, s := range sockets {
		_ = os.Remove(s)
	}
	unmountUnder(dir)
	removeLogSymlinks(dir)
}

// shimSockets are the sockets the shims of the containerd at sock keep in
// containerd's fixed /run/containerd/s, named by a hash of the address, the
// namespace and the shim's id (containerd 1.6 runtime/v2/shim
// SocketAddress). A killed shim leaves its socket behind.
func shimSockets(sock, dir string) []string {
	ids := map[string]bool{}
	if entries, err := os.ReadDir(filepath.Join(dir, "runc", "k8s.io")); err == nil {
		for _, e := range entries {
			ids[e.Name()] = true
		}
	}
	for _, pid := range shimPIDs(sock) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-id" {
				ids[args[i+1]] = true
			}
		}
	}
	var out []string
	for id := range ids {
		out = append(out, fmt.Sprintf("/run/containerd/s/%x", sha256.Sum256([]byte(filepath.Join(sock, "k8s.io", id)))))
	}
	sort.Strings(out)
	return out
}

// killShims kills the containerd-shim-runc-v2 processes serving the
// containerd at sock.
func killShims(sock string) {
	for _, pid := range shimPIDs(sock) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// shimPIDs finds the shims of the containerd at sock: their command line
// names its address.
func shimPIDs(sock string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == sock {
				if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// containerPIDs are the init processes of the node's containers, from runc's
// state in dir.
func containerPIDs(dir string) []int {
	var pids []int
	states, _ := filepath.Glob(filepath.Join(dir, "runc", "k8s.io", "*", "state.json"))
	for _, st := range states {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		var s struct {
			Pid int `json:"init_process_pid"`
		}
		if json.Unmarshal(b, &s) == nil && s.Pid > 0 {
			pids = append(pids, s.Pid)
		}
	}
	return pids
}

// unmountUnder unmounts every mount point at or below dir, deepest first:
// the containers' root file systems and /dev/shm, the Pods' volumes and the
// kubelet's bind mount of its own root dir.
func unmountUnder(dir string) {
	for attempt := 0; attempt < 3; attempt++ {
		points := mountsUnder(dir)
		if len(points) == 0 {
			return
		}
		sort.Slice(points, func(i, j int) bool {
			return strings.Count(points[i], "/") > strings.Count(points[j], "/")
		})
		for _, p := range points {
			if err := syscall.Unmount(p, 0); err != nil {
				_ = syscall.Unmount(p, syscall.MNT_DETACH)
			}
		}
	}
}

func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 1024*1024)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		p := unescapeMount(fields[4])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeLogSymlinks removes the links the kubelet makes in
// /var/log/containers (a fixed path) to logs inside dir.
func removeLogSymlinks(dir string) {
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.HasPrefix(target, dir+"/") {
			_ = os.Remove(l)
		}
	}
}

// ImportImage loads an image tarball (an OCI layout, such as the one make
// dist writes) into the test node's containerd, where Pods with
// imagePullPolicy Never find it by its name.
func (c *ControlPlane) ImportImage(ctx context.Context, tarball string) error {
	if c.node == nil {
		return errors.New("import image: the control plane has no node")
	}
	return c.node.ctr(ctx, "images", "import", "--digests", "--snapshotter=overlayfs", tarball)
}

// NodeName is the test node's name; empty without Options.Node.
func (c *ControlPlane) NodeName() string {
	if c.node == nil {
		return ""
	}
	return c.node.name
}

// ContainerLog returns what a container of a Pod on the test node wrote to
// stdout and stderr, every restart in order, read from the kubelet's
// podLogsDir (the API server never dials the kubelet here).
func (c *ControlPlane) ContainerLog(ns, pod string, uid types.UID, container string) (string, error) {
	return c.containerLog(ns, pod, uid, container, "")
}

// ContainerStdout is ContainerLog of stdout alone: a program's result,
// without the log lines its stderr wrote in between.
func (c *ControlPlane) ContainerStdout(ns, pod string, uid types.UID, container string) (string, error) {
	return c.containerLog(ns, pod, uid, container, "stdout")
}

func (c *ControlPlane) containerLog(ns, pod string, uid types.UID, container, stream string) (string, error) {
	if c.node == nil {
		return "", errors.New("container log: the control plane has no node")
	}
	dir := filepath.Join(c.node.logsDir, ns+"_"+pod+"_"+string(uid), container)
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("container log: no log in %s", dir)
	}
	sort.Slice(files, func(i, j int) bool { return restartIndex(files[i]) < restartIndex(files[j]) })
	var out strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("container log: %w", err)
		}
		out.WriteString(parseCRILog(b, stream))
	}
	return out.String(), nil
}

func restartIndex(path string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".log"))
	return n
}

// parseCRILog turns the CRI log format ("<time> <stream> <P|F> <text>") back
// into the text: F ends a line, P is a partial line continued by the next.
// A stream other than "" keeps that stream's lines only.
func parseCRILog(b []byte, stream string) string {
	var out strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, " ", 4)
		if len(parts) < 3 || (stream != "" && parts[1] != stream) {
			continue
		}
		text := ""
		if len(parts) == 4 {
			text = parts[3]
		}
		out.WriteString(text)
		if parts[2] == "F" {
			out.WriteByte('\n')
		}
	}
	return out.String()
}

var nodeBinDirCache struct {
	sync.Mutex
	dir string
}

// NodeBinDir returns the folder with kubelet and kube-scheduler, building them
// (and installing containerd and runc) through hack/node.sh on first use.
func NodeBinDir(ctx context.Context) (string, error) {
	if d := os.Getenv(EnvNodeBinDir); d != "" {
		return d, checkExecutables(d, "kubelet", "kube-scheduler")
	}
	nodeBinDirCache.Lock()
	defer nodeBinDirCache.Unlock()
	if nodeBinDirCache.dir != "" {
		return nodeBinDirCache.dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, "sparkcm-node-build.lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "node.sh"))
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return "", fmt.Errorf("%w: hack/node.sh: not root", ErrNoNode)
		}
		return "", fmt.Errorf("hack/node.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if err := checkExecutables(dir, "kubelet", "kube-scheduler"); err != nil {
		return "", err
	}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%w: %s not installed", ErrNoNode, tool)
		}
	}
	nodeBinDirCache.dir = dir
	return dir, nil
}

func checkExecutables(dir string, names ...string) error {
	var errs []error
	for _, b := range names {
		st, err := os.Stat(filepath.Join(dir, b))
		if err != nil {
			errs = append(errs, fmt.Errorf("node binary: %w", err))
			continue
		}
		if st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("node binary %s is not executable", filepath.Join(dir, b)))
		}
	}
	return errors.Join(errs...)
}

// buildNodeImages writes the node's image tarballs into dir with tools/image
// (the builder `make image` uses) and returns their paths: the sandbox, the
// podstub stand-in and sparkcm-hook itself.
func buildNodeImages(ctx context.Context, dir string) ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	goBuild := func(out, pkgDir string, pkgs ...string) error {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-trimpath", "-o", out}, pkgs...)...)
		cmd.Dir = pkgDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", strings.Join(pkgs, " "), err, b)
		}
		return nil
	}
	tool := filepath.Join(dir, "image-builder")
	if err := goBuild(tool, filepath.Join(root, "tools", "image"), "."); err != nil {
		return nil, err
	}
	stub := filepath.Join(dir, "podstub")
	if err := goBuild(stub, root, "./internal/cmd/podstub"); err != nil {
		return nil, err
	}
	hookBin := os.Getenv("SPARKCM_BIN")
	if hookBin == "" {
		hookBin = filepath.Join(dir, "sparkcm-hook")
		if err := goBuild(hookBin, root, "./cmd/sparkcm-hook"); err != nil {
			return nil, err
		}
	}
	var tarballs []string
	for _, img := range []struct{ name, bin, entry string }{
		{sandboxImage, stub, "/pause"},
		{StubImage, stub, "/podstub"},
		{HookImage, hookBin, "/sparkcm-hook"},
	} {
		out := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(img.name)+".tar")
		args := []string{"-o", out, "-name", img.name, "-binary", img.bin, "-entrypoint", img.entry}
		if img.name == HookImage {
			if _, err := os.Stat(caBundle); err == nil {
				args = append(args, "-ca-certs", caBundle)
			}
		}
		if b, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build image %s: %w\n%s", img.name, err, b)
		}
		tarballs = append(tarballs, out)
	}
	return tarballs, nil
}

// caBundle is Debian's CA bundle, what distroless ships too.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"
