package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// globals are the flags every command shares.
type globals struct {
	kubeconfig string
	context    string
	namespace  string
	// namespaceSet: -n or SPARKCM_NAMESPACE was given, perhaps empty. An
	// empty one is refused, never read as "the context's namespace".
	namespaceSet bool
	// namespaces are all the namespaces given (-n repeated, or a
	// comma-separated list); only sweep takes more than one, and namespace
	// is then the first.
	namespaces []string
	qps        float64
	burst      int
	logFormat  string
	verbosity  int
	// args are the command's positional arguments, the flags among them
	// taken out (see positionals).
	args []string

	// prog names the program in usage lines: "sparkcm-hook", or
	// "kubectl sparkcm" when kubectl runs it as a plugin.
	prog           string
	log            *slog.Logger
	stdout, stderr io.Writer
}

// globalFlags are fresh flag values each call: the app and every command
// carry their own copy, so that "-n ns" works before or after the command
// name, as in kubectl. load picks the copy that was actually set.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "kubeconfig", Usage: "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)", EnvVars: env("kubeconfig")},
		&cli.StringFlag{Name: "context", Usage: "kubeconfig context to use", EnvVars: env("context")},
		&cli.StringSliceFlag{Name: "namespace", Aliases: []string{"n"}, Usage: "namespace (default: the context's namespace, or the Pod's own namespace in-cluster; an empty value is an error); sweep takes several, repeated or comma-separated", EnvVars: env("namespace")},
		&cli.Float64Flag{Name: "qps", Value: 2000, Usage: "client-side limit of API requests per second (the API server's own priority and fairness still applies)", EnvVars: env("qps")},
		&cli.IntFlag{Name: "burst", Value: 2000, Usage: "client-side burst of API requests", EnvVars: env("burst")},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on stderr: text or json", EnvVars: env("log-format")},
		&cli.IntFlag{Name: "v", Usage: "log verbosity: 0 info, 1 debug, 2+ also client-go's own logs", EnvVars: env("v")},
	}
}

// load reads the shared flags for a command: its own copy where it was set
// (on the command line or through the environment), else the app's.
func (g *globals) load(c *cli.Context) {
	from := func(name string) *cli.Context {
		for _, ctx := range c.Lineage() {
			if ctx.IsSet(name) {
				return ctx
			}
		}
		return c // not set anywhere: every copy holds the default
	}
	g.kubeconfig = from("kubeconfig").String("kubeconfig")
	g.context = from("context").String("context")
	g.namespaces, g.namespaceSet = namespacesGiven(c)
	g.namespace = ""
	if len(g.namespaces) > 0 {
		g.namespace = g.namespaces[0]
	}
	g.qps = from("qps").Float64("qps")
	g.burst = from("burst").Int("burst")
	g.logFormat = from("log-format").String("log-format")
	g.verbosity = from("v").Int("v")
}

// namespacesGiven gathers -n from every copy of the flag (before and
// after the command name), in order, without repeats. The environment
// variable fills every copy that the command line leaves unset, so a copy
// that holds exactly its value counts only when no copy holds another:
// -n on the command line overrides SPARKCM_NAMESPACE, as every flag does
// its variable.
func namespacesGiven(c *cli.Context) ([]string, bool) {
	var fromEnv []string
	if v, ok := os.LookupEnv(env("namespace")[0]); ok {
		fromEnv = []string{}
		for _, s := range strings.Split(v, ",") {
			fromEnv = append(fromEnv, strings.TrimSpace(s))
		}
	}
	lineage := c.Lineage()
	var given [][]string
	set := false
	for i := len(lineage) - 1; i >= 0; i-- { // the app's copy first
		ctx := lineage[i]
		if !ctx.IsSet("namespace") {
			continue
		}
		set = true
		if vals := ctx.StringSlice("namespace"); fromEnv == nil || !slices.Equal(vals, fromEnv) {
			given = append(given, vals)
		}
	}
	if !set {
		return nil, false
	}
	if len(given) == 0 {
		given = [][]string{fromEnv}
	}
	var out []string
	for _, vals := range given {
		for _, v := range vals {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out, true
}

// Validate checks the shared flags without reading any configuration.
func (g *globals) Validate() error {
	for _, ns := range g.namespaces {
		if ns == "" {
			return hook.Usagef("-n/--namespace (or SPARKCM_NAMESPACE) is set but empty: name a namespace, or leave it unset for the context's")
		}
	}
	if g.namespaceSet && len(g.namespaces) == 0 {
		return hook.Usagef("-n/--namespace (or SPARKCM_NAMESPACE) is set but empty: name a namespace, or leave it unset for the context's")
	}
	for _, ns := range g.namespaces {
		if err := hook.ValidateNamespace(ns); err != nil {
			return err
		}
	}
	if g.logFormat != "text" && g.logFormat != "json" {
		return hook.Usagef("--log-format must be text or json, not %q", g.logFormat)
	}
	if g.qps <= 0 || g.burst <= 0 {
		return hook.Usagef("--qps and --burst must be positive")
	}
	return nil
}

// setup loads and validates the shared flags and builds the logger; every
// command runs it first (as its Before). It reads no configuration and makes
// no API call.
func (g *globals) setup(c *cli.Context) error {
	args, err := positionals(c)
	if err != nil {
		return err
	}
	g.args = args
	g.load(c)
	if err := g.Validate(); err != nil {
		return err
	}
	if len(g.namespaces) > 1 && !takesNamespaces(c) {
		// Acting on one namespace of the several given would be a guess.
		return hook.Usagef("%s works in one namespace; -n was given %d: %s", c.Command.FullName(), len(g.namespaces), strings.Join(g.namespaces, ", "))
	}
	level := slog.LevelInfo
	if g.verbosity > 0 {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if g.logFormat == "json" {
		g.log = slog.New(slog.NewJSONHandler(g.stderr, opts))
	} else {
		g.log = slog.New(slog.NewTextHandler(g.stderr, opts))
	}
	// client-go logs through klog; route it into the same handler, and keep
	// its chatter (throttling notes, retries) for -v 2 and above.
	klog.SetSlogLogger(g.log)
	if g.verbosity < 2 {
		klog.SetLogger(klogDiscard())
	}
	return nil
}

// errHelpShown ends a run whose --help came after the arguments: the help
// is printed, and the run exits 0 as for --help anywhere else.
var errHelpShown = errors.New("help shown")

// positionals sets the flags given after the command's arguments on the
// command's own flag set, as if they came before them, and returns the
// arguments: "rbac who-can delete configmaps -n data-jobs" works as in
// kubectl and "check dags/ -o json" as in linters. urfave/cli v2 (like Go's
// flag package) stops reading flags at the first argument, and has no
// setting to read on; "--" ends the flags here too.
func positionals(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "help" || name == "h" {
			if err := cli.ShowSubcommandHelp(c); err != nil {
				return nil, err
			}
			return nil, errHelpShown
		}
		f := commandFlag(c.Command, name)
		if f == nil {
			return nil, usageError(c, fmt.Errorf("flag provided but not defined: %s", a), true)
		}
		if !hasValue {
			if _, isBool := f.(*cli.BoolFlag); isBool {
				value = "true"
			} else if i+1 < len(args) {
				i++
				value = args[i]
			} else {
				return nil, usageError(c, fmt.Errorf("flag needs an argument: %s", a), true)
			}
		}
		if err := c.Set(name, value); err != nil {
			return nil, usageError(c, fmt.Errorf("invalid value %q for flag %s: %w", value, a, err), true)
		}
	}
	return out, nil
}

// commandFlag is the command's flag of that name or alias, or nil.
func commandFlag(cmd *cli.Command, name string) cli.Flag {
	if cmd == nil {
		return nil
	}
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

// takesNamespaces says whether the command acts on several namespaces:
// sweep sweeps them, report reads them, policy binds its policies in them,
// check --live lints their applications.
func takesNamespaces(c *cli.Context) bool {
	return c.Command != nil && (c.Command.Name == "sweep" || c.Command.Name == "controller" || c.Command.Name == "report" || c.Command.Name == "policy" || c.Command.Name == "check")
}

// exclusiveScope refuses -n (or SPARKCM_NAMESPACE) together with -A, for
// every command that takes both.
func exclusiveScope(namespaceGiven, allNamespaces bool) error {
	if namespaceGiven && allNamespaces {
		return hook.Usagef("give -n NAMESPACE or -A, not both")
	}
	return nil
}

// restConfig loads the client configuration the way kubectl does:
// --kubeconfig, $KUBECONFIG, ~/.kube/config, then in-cluster. It returns the
// namespace to use: -n, else the context's, else the Pod's own in-cluster.
// Every failure is a usage error: nothing was asked of a cluster yet.
func (g *globals) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if g.kubeconfig != "" {
		if _, err := os.Stat(g.kubeconfig); err != nil {
			return nil, "", hook.Usagef("kubeconfig %s: %v", g.kubeconfig, errors.Unwrap(err))
		}
		rules.ExplicitPath = g.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: g.context}
	overrides.Context.Namespace = g.namespace // empty: the context's (Validate refused an explicit empty one)
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	// An unknown context is looked up in the loaded kubeconfig itself:
	// ClientConfig reports it as an untyped error.
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, "", hook.Usagef("kubeconfig: %v", err)
	}
	name := g.context
	if name == "" {
		name = raw.CurrentContext
	}
	if _, ok := raw.Contexts[name]; name != "" && !ok {
		return nil, "", hook.Usagef("context %q not found in kubeconfig", name)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", hook.Usagef("no usable Kubernetes configuration: %v (set --kubeconfig or KUBECONFIG, or run in a Pod)", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", hook.Usagef("namespace: %v", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = float32(g.qps)
	cfg.Burst = g.burst
	rest.AddUserAgent(cfg, "sparkcm-hook/"+version)
	return cfg, ns, nil
}

// clients builds the library's clients from the shared flags.
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

// action is every command's Action: it completes and validates the
// options, applies --timeout, reads the configuration, and runs the
// command, which prints its result on stdout in the -o format, also when
// the run failed (the result then says what was done before the failure).
func (g *globals) action(o options) cli.ActionFunc {
	return func(c *cli.Context) error {
		common := o.shared()
		common.args = g.args
		o.complete(c, g)
		if err := o.Validate(); err != nil {
			return err
		}
		ctx, cancel := withTimeout(c.Context, common.timeout)
		defer cancel()
		clients, ns, err := g.clients()
		if err != nil {
			return err
		}
		return o.run(ctx, g, clients, ns, c.App.Writer)
	}
}

// withTimeout bounds ctx by --timeout; 0 means no limit.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return context.WithCancel(ctx)
}
