package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

func sweepCommand(g *globals) *cli.Command {
	var o hook.SweepOptions
	var output string
	var timeout time.Duration
	return &cli.Command{
		Name:      "sweep",
		Usage:     "the TTL fallback: delete every finished application's leftover Spark ConfigMaps",
		UsageText: "sparkcm-hook sweep (-n NAMESPACE | -A) --older-than DURATION [--orphan-older-than 168h] [--dry-run] [-o text|json|yaml|csv] [--concurrency N]",
		Description: `Finds what cleanup never got to and deletes it: every ConfigMap Spark or the Spark Operator
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

-o json|csv is a ledger: one record per map considered (name, uid, application id, age, decision,
reason), also when the run stops early (the rest as failed, "not attempted: <why>"). A progress line goes to stderr when it is a terminal; a summary is always logged.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals(
			preflightFlag(),
			&cli.BoolFlag{Name: "all-namespaces", Aliases: []string{"A"}, Usage: "sweep every namespace", EnvVars: []string{"SPARKCM_ALL_NAMESPACES"}, Destination: &o.AllNamespaces},
			&cli.DurationFlag{Name: "older-than", Usage: "only maps at least this old, of applications that ended at least this long ago (required; 0s means any age)", EnvVars: []string{"SPARKCM_OLDER_THAN"}, Destination: &o.OlderThan},
			&cli.DurationFlag{Name: "orphan-older-than", Value: hook.DefaultOrphanOlderThan, Usage: "ownerless executor maps (client mode, Spark 3.1.0/3.1.1) only once the map and every Pod of its application have been quiet this long; never shorter than --older-than", EnvVars: []string{"SPARKCM_ORPHAN_OLDER_THAN"}, Destination: &o.OrphanOlderThan},
			&cli.BoolFlag{Name: "dry-run", Usage: "report what would be deleted, delete nothing", EnvVars: []string{"SPARKCM_DRY_RUN"}, Destination: &o.DryRun},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "text", Usage: "result format on stdout: text, json, yaml or csv", EnvVars: []string{"SPARKCM_OUTPUT"}, Destination: &output},
			&cli.IntFlag{Name: "concurrency", Value: 32, Usage: "deletes in flight at once", EnvVars: []string{"SPARKCM_CONCURRENCY"}, Destination: &o.Concurrency},
			&cli.IntFlag{Name: "batch-size", Value: 500, Usage: "deletes per batch; use by Pods is re-read before each", EnvVars: []string{"SPARKCM_BATCH_SIZE"}, Destination: &o.BatchSize},
			&cli.DurationFlag{Name: "timeout", Usage: "total time for the sweep (default: no limit)", EnvVars: []string{"SPARKCM_TIMEOUT"}, Destination: &timeout},
			&cli.DurationFlag{Name: "retry-budget", Value: hook.DefaultRetryPolicy.Budget, Usage: "how long each API call may be retried on transient failures", EnvVars: []string{"SPARKCM_RETRY_BUDGET"}, Destination: &o.Retry.Budget},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return hook.Usagef("sweep takes no arguments, got %q", c.Args().First())
			}
			if !c.IsSet("older-than") {
				return hook.Usagef("--older-than is required (for example --older-than 24h; 0s means any age)")
			}
			if !c.IsSet("orphan-older-than") {
				o.OrphanOlderThan = 0 // the library's default: 7 days, or --older-than when longer
			}
			if err := checkOutput(output, "text", "json", "yaml", "csv"); err != nil {
				return err
			}
			if o.Concurrency < 1 || o.BatchSize < 1 || timeout < 0 || o.Retry.Budget <= 0 {
				return hook.Usagef("--concurrency and --batch-size must be at least 1, --timeout not negative, --retry-budget positive")
			}
			clients, ns, err := g.clients()
			if err != nil {
				return err
			}
			if o.AllNamespaces {
				if g.namespace != "" {
					return hook.Usagef("give -n NAMESPACE or -A, not both")
				}
			} else {
				o.Namespace = ns
				if err := g.checkNamespace(c.Context, clients, ns); err != nil {
					return err
				}
			}
			if err := hook.ValidateSweep(o); err != nil {
				return err
			}
			if err := g.preflight(c, hook.CommandSweep, clients, o.Namespace, output); err != nil {
				return err
			}
			ctx := c.Context
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			p := newProgress(g.stderr)
			o.Progress = p.update
			res, err := hook.Sweep(ctx, clients, g.log, o)
			p.finish()
			if werr := writeResult(c.App.Writer, output, res); werr != nil && err == nil {
				err = werr
			}
			return err
		},
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
