package kubecluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// EnvToxiproxy names a toxiproxy-server binary; when unset,
// hack/toxiproxy.sh builds (or finds in its cache) the pinned version.
const EnvToxiproxy = "SPARKCM_TOXIPROXY"

// Toxiproxy is a toxiproxy server (github.com/Shopify/toxiproxy) with one
// TCP proxy in front of the API server: clients that connect through it
// meet the connection faults (toxics) a test adds, on real sockets.
//
// toxiproxy (v2.12.0 and before) keeps, for each open connection, a chain
// of stubs that must match the proxy's list of toxics. A toxic that closes
// its stub (reset_peer, limit_data, timeout) leaves that connection's chain
// out of step with the list once the list changes under it, and the next
// change can panic the server (index out of range in link.go's AddToxic)
// or hang it for good (a stub ahead of the closed one waits forever to hand
// on data, and interrupting it blocks while holding the collection lock).
// So use one proxy per test and do not reuse it after such a toxic; keep
// at most one of them on a proxy at a time, last in its direction's chain,
// and never remove what sits ahead of it (Stop the proxy rather than Reset
// it).
type Toxiproxy struct {
	proc   *process
	dir    string
	api    string // http://127.0.0.1:port of toxiproxy's own API
	listen string // 127.0.0.1:port of the proxy
	name   string
}

// Toxic is one connection fault, as toxiproxy's API takes it: Type is
// latency, timeout, reset_peer, limit_data, slow_close, bandwidth, slicer;
// Stream is "downstream" (server to client, the default) or "upstream";
// Toxicity is the share of connections it applies to (default 1).
type Toxic struct {
	Name       string           `json:"name"`
	Type       string           `json:"type"`
	Stream     string           `json:"stream,omitempty"`
	Toxicity   float64          `json:"toxicity"`
	Attributes map[string]int64 `json:"attributes"`
}

// ToxiproxyBinary returns the toxiproxy-server to run: $SPARKCM_TOXIPROXY,
// else the one hack/toxiproxy.sh builds once per version into the cache.
func ToxiproxyBinary(ctx context.Context) (string, error) {
	if b := os.Getenv(EnvToxiproxy); b != "" {
		return b, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "toxiproxy.sh"))
	cmd.Dir = root
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/toxiproxy.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// StartToxiproxy runs a toxiproxy server with one proxy to this control
// plane's API server. seed makes toxiproxy's own randomness (toxicity)
// repeatable. Stop it with Stop; it also dies with the calling process.
func (c *ControlPlane) StartToxiproxy(ctx context.Context, seed int64) (*Toxiproxy, error) {
	bin, err := ToxiproxyBinary(ctx)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", tempDirPrefix+"toxiproxy-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &Toxiproxy{dir: dir, api: "http://127.0.0.1:" + strconv.Itoa(apiPort), name: "kube-apiserver"}
	t.proc, err = startProcess("toxiproxy", dir, bin, "-host=127.0.0.1", "-port="+strconv.Itoa(apiPort), "-seed="+strconv.FormatInt(seed, 10))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	fail := func(err error) (*Toxiproxy, error) { t.Stop(); return nil, err }
	if err := waitReady(ctx, t.proc, 30*time.Second, func(ctx context.Context) error {
		return t.call(ctx, http.MethodGet, "/version", nil, nil)
	}); err != nil {
		return fail(err)
	}
	u, err := url.Parse(c.host)
	if err != nil {
		return fail(err)
	}
	listenPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	t.listen = "127.0.0.1:" + strconv.Itoa(listenPort)
	proxy := map[string]any{"name": t.name, "listen": t.listen, "upstream": u.Host, "enabled": true}
	if err := t.call(ctx, http.MethodPost, "/proxies", proxy, nil); err != nil {
		return fail(err)
	}
	return t, nil
}

// Config returns a copy of cfg that reaches the API server through the
// proxy. The API server's certificate is for 127.0.0.1, which the proxy
// shares, so TLS verifies as before.
func (t *Toxiproxy) Config(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Host = "https://" + t.listen
	return cfg
}

// Host is the proxy's URL, for a kubeconfig.
func (t *Toxiproxy) Host() string { return "https://" + t.listen }

// AddToxic starts a connection fault on the proxy's connections, open ones
// included, and returns it as toxiproxy now holds it (its answer), so that
// a test can tell what was applied from what it asked for.
func (t *Toxiproxy) AddToxic(ctx context.Context, x Toxic) (Toxic, error) {
	if x.Toxicity == 0 {
		x.Toxicity = 1
	}
	if x.Stream == "" {
		x.Stream = "downstream"
	}
	var held Toxic
	err := t.call(ctx, http.MethodPost, "/proxies/"+t.name+"/toxics", x, &held)
	return held, err
}

// RemoveToxic ends one fault.
func (t *Toxiproxy) RemoveToxic(ctx context.Context, name string) error {
	return t.call(ctx, http.MethodDelete, "/proxies/"+t.name+"/toxics/"+name, nil, nil)
}

// SetEnabled cuts every connection and refuses new ones (false), or lets
// them through again (true).
func (t *Toxiproxy) SetEnabled(ctx context.Context, enabled bool) error {
	return t.call(ctx, http.MethodPost, "/proxies/"+t.name, map[string]any{"enabled": enabled}, nil)
}

// Reset removes every toxic and enables the proxy again. Not after a
// toxic that closes connections was live: see Toxiproxy.
func (t *Toxiproxy) Reset(ctx context.Context) error {
	return t.call(ctx, http.MethodPost, "/reset", nil, nil)
}

// Stop kills the server and removes its files. Safe to call twice.
func (t *Toxiproxy) Stop() {
	t.proc.stop()
	_ = os.RemoveAll(t.dir)
}

// toxiproxyCallTimeout bounds every call to toxiproxy's API: a server that
// hangs (see Toxiproxy) fails the test that called it instead of stalling
// it until go test's own timeout.
const toxiproxyCallTimeout = 20 * time.Second

func (t *Toxiproxy) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, toxiproxyCallTimeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.api+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		// A server that went away says why only in its log, which Stop
		// removes with its temp dir: show it here.
		if dead := t.proc.running(); dead != nil {
			return fmt.Errorf("toxiproxy %s %s: %w; %w", method, path, err, dead)
		}
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
