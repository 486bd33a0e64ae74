package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const exitCodesHelp = `EXIT CODES:
   0  done, also when there was nothing to delete
   1  failed after retries, or some ConfigMaps could not be deleted
   2  invalid usage or input (nothing was changed)
   3  forbidden: the API server refused a verb (RBAC); the message names the rule to grant
   4  the application is still running (nothing was deleted)`

func init() {
	// -v is the log verbosity, as in kubectl; the version has its own flag
	// and command.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
}

// Run is the whole program; main only turns its result into the exit code.
// Tests call it with their own arguments and streams.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return RunContext(ctx, args, stdin, stdout, stderr)
}

// RunContext is Run with a caller-owned context (cancelled on SIGTERM by Run).
func RunContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stderr: stderr}
	app := &cli.App{
		Name:  "sparkcm-hook",
		Usage: "delete the ConfigMaps Spark on Kubernetes leaves behind, and nothing else",
		Description: `sparkcm-hook deletes only ConfigMaps that Spark (or the Spark Operator) generated for an
application that has finished, that no non-terminated Pod uses, that nobody supplied or marked
sparkcm-hook/keep: "true", and always with UID and resourceVersion preconditions. When in doubt it skips the map and
says why. Every run is idempotent: running it twice deletes nothing more, like rm -f.

Results go to stdout (-o text|json|yaml); logs go to stderr (--log-format text|json).
Every flag can also be set through the environment variable shown beside it.

` + exitCodesHelp,
		Version:         version,
		Reader:          stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		Flags:           globalFlags(),
		HideHelpCommand: true,
		Commands: []*cli.Command{
			cleanupCommand(g),
			sweepCommand(g),
			watchCommand(g),
			rbacCommand(g),
			versionCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // exit codes are decided below
		OnUsageError:   usageError,
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
		for _, sub := range cmd.Subcommands {
			sub.OnUsageError = usageError
		}
	}
	err := app.RunContext(ctx, interspersed(args))
	if err == nil {
		return hook.ExitOK
	}
	code := exitCode(err)
	fmt.Fprintln(stderr, "error: "+oneLine(err.Error()))
	return code
}

// usageError keeps a flag error to one line instead of a page of help.
func usageError(_ *cli.Context, err error, _ bool) error {
	return hook.Usagef("%v (see --help)", err)
}

// exitCode maps usage errors from flag parsing onto the documented code 2
// and everything else through the library's classification.
func exitCode(err error) int {
	var exit cli.ExitCoder
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if isFlagError(err) {
		return hook.ExitUsage
	}
	return hook.ExitCode(err)
}

// isFlagError recognises urfave/cli's parse errors, which are plain errors.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "Required flag", "Required flags", "No help topic", "invalid boolean"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// oneLine keeps error output to the single line the interface promises.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// globals are the flags every command shares.
type globals struct {
	kubeconfig string
	context    string
	namespace  string
	qps        float64
	burst      int
	logFormat  string
	verbosity  int

	log    *slog.Logger
	stderr io.Writer
}

// globalFlags are fresh flag values each call: the app and every command
// carry their own copy, so that "-n ns" works before or after the command
// name, as in kubectl. load picks the copy that was actually set.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)", EnvVars: []string{"SPARKCM_KUBECONFIG"}},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig context to use", EnvVars: []string{"SPARKCM_CONTEXT"}},
		&cli.StringFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "namespace (default: the context's namespace, or the Pod's own namespace in-cluster)", EnvVars: []string{"SPARKCM_NAMESPACE"}},
		&cli.Float64Flag{Name: "qps", Value: 2000, Usage: "client-side limit of API requests per second (the API server's own priority and fairness still applies)", EnvVars: []string{"SPARKCM_QPS"}},
		&cli.IntFlag{Name: "burst", Value: 2000, Usage: "client-side burst of API requests", EnvVars: []string{"SPARKCM_BURST"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json", EnvVars: []string{"SPARKCM_LOG_FORMAT"}},
		&cli.IntFlag{Name: "v", Usage: "log verbosity: 0 info, 1 debug, 2+ also client-go's own logs", EnvVars: []string{"SPARKCM_V"}},
	}
}

// withGlobals appends the shared flags to a command's own.
func withGlobals(own ...cli.Flag) []cli.Flag { return append(own, globalFlags()...) }

// load reads the shared flags for a command: its own copy where it was set
// (on the command line or through the environment), else the app's.
func (g *globals) load(c *cli.Context) {
	from := func(name string) *cli.Context {
		if c.IsSet(name) {
			return c
		}
		for _, p := range c.Lineage()[1:] {
			if p.IsSet(name) {
				return p
			}
		}
		return c
	}
	g.kubeconfig = from("kubeconfig").String("kubeconfig")
	g.context = from("context").String("context")
	g.namespace = from("namespace").String("namespace")
	g.qps = from("qps").Float64("qps")
	g.burst = from("burst").Int("burst")
	g.logFormat = from("log-format").String("log-format")
	g.verbosity = from("v").Int("v")
}

// setup validates the shared flags and builds the logger; every command
// runs it first (as its Before), and it makes no API call.
func (g *globals) setup(c *cli.Context) error {
	stderr := g.stderr
	g.load(c)
	level := slog.LevelInfo
	if g.verbosity > 0 {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		g.log = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		g.log = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return hook.Usagef("--log-format must be text or json, not %q", g.logFormat)
	}
	// client-go logs through klog; route it into the same handler, and keep
	// its chatter (throttling notes, retries) for -v 2 and above.
	klog.SetSlogLogger(g.log)
	if g.verbosity < 2 {
		klog.SetLogger(klogDiscard())
	}
	if g.qps <= 0 || g.burst <= 0 {
		return hook.Usagef("--qps and --burst must be positive")
	}
	return nil
}

// restConfig loads the client configuration the way kubectl does:
// --kubeconfig, $KUBECONFIG, ~/.kube/config, then in-cluster. It returns the
// namespace to use: -n, else the context's, else the Pod's own in-cluster.
func (g *globals) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if g.kubeconfig != "" {
		if _, err := os.Stat(g.kubeconfig); err != nil {
			return nil, "", hook.Usagef("kubeconfig %s: %v", g.kubeconfig, errors.Unwrap(err))
		}
		rules.ExplicitPath = g.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: g.context}
	if g.namespace != "" {
		overrides.Context.Namespace = g.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if g.context != "" && strings.Contains(err.Error(), "context") {
			return nil, "", hook.Usagef("context %q not found in kubeconfig", g.context)
		}
		return nil, "", hook.Usagef("no usable Kubernetes configuration: %v (set --kubeconfig or KUBECONFIG, or run in a Pod)", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", hook.Usagef("namespace: %v", err)
	}
	cfg.QPS = float32(g.qps)
	cfg.Burst = g.burst
	cfg = rest.CopyConfig(cfg)
	rest.AddUserAgent(cfg, "sparkcm-hook/"+version)
	return cfg, ns, nil
}

// clients builds the library's clients from the global flags.
func (g *globals) clients() (hook.Clients, string, error) {
	cfg, ns, err := g.restConfig()
	if err != nil {
		return hook.Clients{}, "", err
	}
	cs, err := hook.NewClients(cfg)
	if err != nil {
		return hook.Clients{}, "", err
	}
	return cs, ns, nil
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			_, err := fmt.Fprintln(c.App.Writer, version)
			return err
		},
	}
}

// checkNamespace turns "namespace does not exist" into a usage error before
// the command starts. Reading a namespace is cluster-scoped and a
// least-privilege Role does not grant it, so a 403 (or any other failure)
// just lets the command go on.
func (g *globals) checkNamespace(ctx context.Context, c hook.Clients, ns string) error {
	if err := hook.ValidateNamespace(ns); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return hook.Usagef("namespace %q not found", ns)
	}
	if err != nil {
		g.log.Debug("could not check the namespace; going on", "namespace", ns, "err", err)
	}
	return nil
}
