package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// sweepOptions are sweep's flags: the common ones and the library's.
type sweepOptions struct {
	deleting
	hook.SweepOptions
	olderThanSet   bool // --older-than has no default: it must be given
	orphanSet      bool // --orphan-older-than was given; else the library's default
	namespaceGiven bool // -n (or SPARKCM_NAMESPACE) was given, which -A excludes
	namespaces     []string
	exclude        cli.StringSlice
	notifyWebhook  string
}

// Validate checks every flag of sweep without reading any configuration.
func (o *sweepOptions) Validate() error {
	if err := o.validate("sweep"); err != nil {
		return err
	}
	if !o.olderThanSet {
		return hook.Usagef("--older-than is required (for example --older-than 24h; 0s means any age)")
	}
	if err := validateAges(o.OlderThan, o.OrphanOlderThan, o.orphanSet); err != nil {
		return err
	}
	if o.BatchSize < 1 {
		return hook.Usagef("--batch-size must be at least 1")
	}
	return validateScope(o.namespaceGiven, o.AllNamespaces, o.ExcludeNamespaces, o.notifyWebhook)
}

// validateAges checks --older-than and --orphan-older-than, as sweep and
// report (which says what sweep would do) take them.
func validateAges(olderThan, orphan time.Duration, orphanSet bool) error {
	switch {
	case olderThan < 0:
		return hook.Usagef("--older-than must not be negative")
	case orphanSet && orphan <= 0:
		// The library reads zero as its default; and a zero bound would
		// delete the ownerless executor maps of a client-mode session
		// idling at zero executors.
		return hook.Usagef("--orphan-older-than must be positive and at least --older-than (%s); leave it unset for %s", olderThan, hook.DefaultOrphanOlderThan)
	case orphanSet && orphan < olderThan:
		return hook.Usagef("--orphan-older-than (%s) must not be shorter than --older-than (%s)", orphan, olderThan)
	}
	return nil
}

// validateScope checks the scope flags sweep and report share: -n against
// -A, --exclude-namespaces (only with -A, each a namespace name) and
// --notify-webhook.
func validateScope(namespaceGiven, all bool, exclude []string, webhook string) error {
	if err := exclusiveScope(namespaceGiven, all); err != nil {
		return err
	}
	if err := validateWebhook(webhook); err != nil {
		return err
	}
	if len(exclude) > 0 && !all {
		return hook.Usagef("--exclude-namespaces applies only with -A")
	}
	for _, ns := range exclude {
		if err := hook.ValidateNamespace(ns); err != nil {
			return hook.Usagef("--exclude-namespaces: %v", err)
		}
	}
	return nil
}

func (o *sweepOptions) complete(c *cli.Context, g *globals) {
	o.take(&o.DryRun, &o.Concurrency, &o.Retry)
	o.olderThanSet = c.IsSet("older-than")
	o.orphanSet = c.IsSet("orphan-older-than")
	if !o.orphanSet {
		o.OrphanOlderThan = 0 // the library's default: 7 days, or --older-than when longer
	}
	o.namespaceGiven = g.namespaceSet
	o.namespaces = g.namespaces
	o.ExcludeNamespaces = distinct(o.exclude.Value())
}

func (o *sweepOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	switch {
	case len(o.namespaces) > 1:
		for _, n := range o.namespaces {
			if err := g.checkNamespace(ctx, clients, n); err != nil {
				return err
			}
		}
		o.Namespaces = o.namespaces
	case !o.AllNamespaces:
		if err := g.checkNamespace(ctx, clients, ns); err != nil {
			return err
		}
		o.Namespace = ns
	}
	if err := g.preflight(ctx, &o.common, o.preflight, hook.CommandSweep, clients, o.Namespace); err != nil {
		return err
	}
	return o.ledger(stdout, g.log, func() (*hook.Result, error) {
		p := newProgress(g.stderr)
		o.Progress = p.update
		// Every entry goes to the printer as it is decided: the ledger of a
		// sweep of any size streams, and the sweep holds only counts.
		o.Record, o.streamed = o.out.record, true
		res, err := hook.Sweep(ctx, clients, g.log, o.SweepOptions)
		p.finish()
		if o.notifyWebhook != "" && res != nil {
			notifyWebhook(ctx, g, o.notifyWebhook, res.Summary(), "sweep")
		}
		return res, err
	})
}

func sweepCommand(g *globals) *cli.Command {
	o := &sweepOptions{}
	return &cli.Command{
		Name:      "sweep",
		Usage:     "the TTL fallback: delete every finished application's leftover Spark ConfigMaps",
		UsageText: g.prog + " sweep (-n NAMESPACE[,NAMESPACE...] | -A [--exclude-namespaces NS,...]) --older-than DURATION [--orphan-older-than 168h] [--dry-run] [-o " + formatNames("|") + "] [--concurrency N] [--timeout DURATION]",
		Description: `Sweeps one namespace (-n), several (-n repeated, or a comma-separated list), or every namespace
(-A), less those named by --exclude-namespaces: their ConfigMaps are never listed, judged or deleted.

Finds what cleanup never got to and deletes it: every ConfigMap Spark or the Spark Operator
generated (positive evidence only: owned by a Spark driver Pod or SparkApplication and named as Spark
names it, or an ownerless spark-exec-<hex>-conf-map labelled spark-app-selector) whose application
has finished or is gone: the map itself, and the time since its application ended where that is
known, must both be older than --older-than (measured on the API server's clock).

An ownerless executor map is what a client-mode driver (a notebook, a driver outside the cluster)
and Spark 3.1.0/3.1.1 leave: nothing in the cluster proves such an application finished, and one
idling at zero executors shows nothing at all. It is kept while any Pod labelled with its
application id has not terminated, and until the map and every Pod of that application have been
quiet for --orphan-older-than (default 7 days). cleanup --app-id removes it at once.

The same exclusions as cleanup hold: maps used by a Pod that is not Succeeded/Failed (re-checked just
before each batch of deletes), user-supplied maps, sparkcm-hook/keep: "true", maps with another owner,
and every map of an application still running, even one no Pod mounts yet (its Pods and
SparkApplication are read again before each batch). A map created or changed after the owners were
read waits for the next run. Each delete carries UID and resourceVersion preconditions. ConfigMaps are listed as metadata, page by page: their data never crosses the wire.

-o json|yaml|csv is a ledger: one record per map considered (name, uid, application id, age, decision,
reason), also when the run stops early (the rest as failed, "not attempted: <why>"), printed as it
is decided; json and yaml end with the summary. A progress line goes to stderr when it is a terminal; a summary is always logged.

Unless --dry-run or --no-event, a summary Event (reason SparkConfigMapsSwept, or SparkConfigMapsSweepFailed)
is recorded in each namespace named with -n and each namespace where a map was decided (kubectl get events
-n NS). --notify-webhook URL POSTs the JSON summary there once the deletes are done: a failed POST is
retried for up to 30 s (10 s per try), then logged; it never changes the exit code.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				allNamespacesFlag(&o.AllNamespaces, "sweep every namespace"),
				&cli.StringSliceFlag{Name: "exclude-namespaces", Usage: "with -A, namespaces whose ConfigMaps are never listed, judged or deleted (repeated or comma-separated)", EnvVars: env("exclude-namespaces"), Destination: &o.exclude},
				&cli.DurationFlag{Name: "older-than", Usage: "only maps at least this old, of applications that ended at least this long ago (required; 0s means any age)", EnvVars: env("older-than"), Destination: &o.OlderThan},
				&cli.DurationFlag{Name: "orphan-older-than", Value: hook.DefaultOrphanOlderThan, Usage: "ownerless executor maps (client mode, Spark 3.1.0/3.1.1) only once the map and every Pod of its application have been quiet this long; never shorter than --older-than", EnvVars: env("orphan-older-than"), Destination: &o.OrphanOlderThan},
				&cli.StringFlag{Name: "notify-webhook", Usage: "after the sweep, POST its JSON summary to this http(s) URL (retried briefly; a failure is logged and never fails the sweep)", EnvVars: env("notify-webhook"), Destination: &o.notifyWebhook},
				noEventFlag(&o.NoEvent),
				&cli.IntFlag{Name: "batch-size", Value: hook.DefaultSweepBatchSize, Usage: "deletes per batch; use by Pods is re-read before each", EnvVars: env("batch-size"), Destination: &o.BatchSize},
			},
			o.flags(hook.DefaultSweepConcurrency),
		),
		Action: g.action(o),
	}
}

// progress draws one self-overwriting line on stderr when it is a terminal,
// at most a few times a second.
type progress struct {
	mu   sync.Mutex
	w    io.Writer
	tty  bool
	last time.Time
	drew bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(decided, deleted int) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.drew = true
	fmt.Fprintf(p.w, "\rsweep: %d ConfigMaps decided, %d deleted", decided, deleted)
}

func (p *progress) finish() {
	if p.drew {
		fmt.Fprintln(p.w)
	}
}

// validateWebhook checks --notify-webhook, when given.
func validateWebhook(url string) error {
	if url == "" {
		return nil
	}
	if err := hook.ValidateWebhookURL(url); err != nil {
		return hook.Usagef("--notify-webhook: %v", err)
	}
	return nil
}

// notifyWebhook POSTs body to url once the run's work is done, bounded by
// its own policy, and never the run's result: a webhook that is down is
// logged, nothing more. The run's --timeout may have ended ctx; the
// notification still gets its own short budget.
func notifyWebhook(ctx context.Context, g *globals, url string, body any, what string) {
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := hook.Notify(nctx, g.log, hook.DefaultNotifyPolicy(), url, body); err != nil {
		g.log.Warn("could not notify the webhook (the "+what+" itself is unaffected)", "err", err)
		return
	}
	g.log.Info("notified the webhook")
}

// distinct is names in their first order, each once (--exclude-namespaces
// may repeat one through -flag and a comma list).
func distinct(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
