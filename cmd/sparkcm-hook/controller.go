package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/controller"
)

// controllerOptions are controller's flags: the common ones and the
// library's.
type controllerOptions struct {
	deleting
	controller.Options
	orphanSet      bool
	namespaceGiven bool
	noEvent        bool
	leaderElect    bool
	leaseNamespace string
	leaseName      string
	identity       string
	httpAddr       string
}

// Validate checks every flag of controller without reading any
// configuration.
func (o *controllerOptions) Validate() error {
	if err := o.validate("controller"); err != nil {
		return err
	}
	if err := exclusiveScope(o.namespaceGiven, o.AllNamespaces); err != nil {
		return err
	}
	if err := validateAges(o.OlderThan, o.OrphanOlderThan, o.orphanSet); err != nil {
		return err
	}
	switch {
	case o.Grace < 0:
		return hook.Usagef("--grace must not be negative (0s cleans an application as soon as it is seen to end)")
	case o.ResyncPeriod <= 0:
		return hook.Usagef("--resync-period must be positive (default %s)", controller.DefaultResyncPeriod)
	case o.Workers < 1:
		return hook.Usagef("--workers must be at least 1")
	}
	if o.httpAddr != "" {
		if _, _, err := net.SplitHostPort(o.httpAddr); err != nil {
			return hook.Usagef("--http-addr %q: want HOST:PORT or :PORT (%v)", o.httpAddr, err)
		}
	}
	if !o.leaderElect {
		return nil
	}
	if o.identity == "" {
		return hook.Usagef("--leader-elect needs --identity (default: $POD_NAME, from the downward API, else the host name)")
	}
	if o.leaseNamespace != "" {
		if err := hook.ValidateNamespace(o.leaseNamespace); err != nil {
			return hook.Usagef("--lease-namespace: %v", err)
		}
	}
	return hook.ValidateObjectName("--lease-name", o.leaseName)
}

func (o *controllerOptions) complete(c *cli.Context, g *globals) {
	o.take(&o.DryRun, &o.Concurrency, &o.Retry)
	o.NoEvent = o.noEvent
	o.orphanSet = c.IsSet("orphan-older-than")
	if !o.orphanSet {
		o.OrphanOlderThan = 0 // the library's default
	}
	o.namespaceGiven = g.namespaceSet
	if !c.IsSet("identity") {
		o.identity, _ = os.Hostname()
	}
}

func (o *controllerOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	if !o.AllNamespaces {
		names := g.namespaces
		if len(names) == 0 {
			names = []string{ns}
		}
		for _, n := range names {
			if err := g.checkNamespace(ctx, clients, n); err != nil {
				return err
			}
		}
		o.Namespaces = names
	}
	first := ""
	if len(o.Namespaces) > 0 {
		first = o.Namespaces[0]
	}
	if err := g.preflight(ctx, &o.common, o.preflight, hook.CommandController, clients, first); err != nil {
		return err
	}
	if o.leaderElect {
		leaseNS := o.leaseNamespace
		if leaseNS == "" {
			leaseNS = first
		}
		if leaseNS == "" {
			leaseNS = ns // -A: the context's namespace, or the Pod's own
		}
		e := &controller.Elector{Leases: clients.Kube.CoordinationV1().Leases(leaseNS), Namespace: leaseNS, Name: o.leaseName,
			Identity: o.identity, Log: g.log}
		o.Lead = e.Run
	}
	if o.httpAddr != "" {
		l, err := net.Listen("tcp", o.httpAddr)
		if err != nil {
			return fmt.Errorf("--http-addr: %w", err)
		}
		o.Listener = l
	}
	// SIGTERM or --timeout ends a controller that has started with no
	// error: that is how its run ends.
	return o.ledger(stdout, g.log, func() (*hook.Result, error) { return controller.Run(ctx, clients, g.log, o.Options) })
}

func controllerCommand(g *globals) *cli.Command {
	o := &controllerOptions{}
	return &cli.Command{
		Name:      "controller",
		Usage:     "run continuously: clean each application seconds after it ends, and sweep periodically",
		UsageText: g.prog + " controller (-n NAMESPACE[,NAMESPACE...] | -A) [--grace 1s] [--resync-period 1h] [--older-than 1h] [--orphan-older-than 168h] [--workers 4] [--dry-run]",
		Description: `Watches Spark's driver and executor Pods (label spark-role), SparkApplications and ConfigMaps (as
metadata only) in the namespaces given with -n (repeated or comma-separated), or in every namespace
with -A, and cleans each application once it is seen to end: a driver Pod that terminated or was
deleted, a SparkApplication whose state changed or that was deleted. After --grace, the application
goes through exactly what "cleanup --spark-app" (for a driver a SparkApplication owns) or
"cleanup --driver-pod" runs: the same rule, the same fresh reads, the same preconditions, the same
summary Event. What the controller sees only decides when to ask: an application cleanup finds still
running is dropped until its next change (an executor ending, a new state). A failed cleanup is retried
with backoff a few times, then left to the fallback sweep.

The fallback is "sweep" itself, over the same namespaces, at start and every --resync-period, with
--older-than and --orphan-older-than as sweep takes them: it catches what ended while no controller
watched. An application with no driver Pod in the cluster (client mode) is never cleaned on sight:
its ownerless executor maps go only through the sweep's --orphan-older-than, which must exceed the
longest client-mode session.

With --leader-elect, replicas elect one leader through a Lease (coordination.k8s.io, --lease-name in
--lease-namespace, default the first -n namespace or the Pod's own): every replica watches, only the
leader cleans, sweeps and stamps. A leader that cannot renew its Lease within 10s stops cleaning and
exits 1 (its Pod restarts as a follower); one stopped by SIGTERM releases the Lease, and another
replica takes over at once, else once the Lease expires (15s).

--http-addr HOST:PORT serves /healthz, /readyz (200 once the informers have synced) and /metrics
(Prometheus: maps by run and decision, applications cleaned, seconds from an end seen to the last map
gone, queue depth, API retries and throttling, leadership). Without it, no port is opened.

It runs until SIGTERM (or --timeout), then prints what it did in total (counts) in the -o format and
exits 0. Logs on stderr say what it cleaned and why it skipped.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				allNamespacesFlag(&o.AllNamespaces, "watch every namespace"),
				&cli.DurationFlag{Name: "grace", Value: controller.DefaultGrace, Usage: "clean an application this long after it is seen to end (0s: at once)", EnvVars: env("grace"), Destination: &o.Grace},
				&cli.DurationFlag{Name: "resync-period", Value: controller.DefaultResyncPeriod, Usage: "how often the fallback sweep runs (the first at start)", EnvVars: env("resync-period"), Destination: &o.ResyncPeriod},
				&cli.DurationFlag{Name: "older-than", Value: controller.DefaultOlderThan, Usage: "the fallback sweep's: only maps at least this old, of applications that ended at least this long ago", EnvVars: env("older-than"), Destination: &o.OlderThan},
				&cli.DurationFlag{Name: "orphan-older-than", Value: hook.DefaultOrphanOlderThan, Usage: "the fallback sweep's: ownerless executor maps (client mode) only once the map and every Pod of its application have been quiet this long; must exceed the longest client-mode session", EnvVars: env("orphan-older-than"), Destination: &o.OrphanOlderThan},
				&cli.IntFlag{Name: "workers", Value: controller.DefaultWorkers, Usage: "applications cleaned at once", EnvVars: env("workers"), Destination: &o.Workers},
				&cli.BoolFlag{Name: "leader-elect", Usage: "elect one leader among replicas through a Lease; only the leader deletes", EnvVars: env("leader-elect"), Destination: &o.leaderElect},
				&cli.StringFlag{Name: "lease-namespace", Usage: "the Lease's namespace (default: $POD_NAMESPACE, else the first -n namespace, else the context's)", EnvVars: append(env("lease-namespace"), "POD_NAMESPACE"), Destination: &o.leaseNamespace},
				&cli.StringFlag{Name: "lease-name", Value: controller.DefaultLeaseName, Usage: "the Lease's name", EnvVars: env("lease-name"), Destination: &o.leaseName},
				&cli.StringFlag{Name: "identity", Usage: "this replica's name in the Lease (default: $POD_NAME, else the host name)", EnvVars: append(env("identity"), "POD_NAME"), Destination: &o.identity},
				&cli.StringFlag{Name: "http-addr", Usage: "serve /healthz, /readyz and /metrics on HOST:PORT (default: no port opened)", EnvVars: env("http-addr"), Destination: &o.httpAddr},
				noEventFlag(&o.noEvent),
			},
			o.flags(hook.DefaultCleanupConcurrency),
		),
		Action: g.action(o),
	}
}
