package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
)

// checkFormats are check's -o values; the first is the default. text is the
// linters' file:line: form that editors and CI annotate.
var checkFormats = []string{"text", "json"}

// checkOptions are check's flags: the common ones (--timeout and
// --retry-budget apply with --live only) and the mode.
type checkOptions struct {
	common
	live, allNamespaces bool
	namespaceGiven      bool
	namespaces          []string
	// clusterFlags are the cluster flags given (on the command line or
	// through the environment): offline, check refuses them.
	clusterFlags []string
}

func (o *checkOptions) complete(c *cli.Context, g *globals) {
	o.namespaceGiven, o.namespaces = g.namespaceSet, g.namespaces
	o.clusterFlags = nil
	for _, name := range []string{"kubeconfig", "context", "namespace", "qps", "burst", "all-namespaces", "timeout", "retry-budget"} {
		for _, ctx := range c.Lineage() {
			if ctx.IsSet(name) {
				o.clusterFlags = append(o.clusterFlags, name)
				break
			}
		}
	}
}

// Validate checks every flag of check, in either mode, without reading
// any file or configuration.
func (o *checkOptions) Validate() error {
	if err := o.validateFlags(); err != nil {
		return err
	}
	if o.live {
		if len(o.args) > 0 {
			return hook.Usagef("check --live reads the cluster, not files; give files or --live, not both (got %q)", o.args[0])
		}
		return exclusiveScope(o.namespaceGiven, o.allNamespaces)
	}
	// Offline, check reads no cluster: a cluster flag given to it would be
	// silently ignored, so it is refused.
	if len(o.clusterFlags) > 0 {
		return hook.Usagef("check reads files only without --live; --%s does not apply", o.clusterFlags[0])
	}
	if len(o.args) == 0 {
		return hook.Usagef("check takes the files or directories to read, e.g. check dags/, or --live")
	}
	return nil
}

// runFiles is check without --live: it reads the files named, no cluster.
func (o *checkOptions) runFiles(g *globals, stdout io.Writer) error {
	sources, err := lint.Load(o.args)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return hook.Usagef("%v", err)
		}
		return err
	}
	findings := lint.Check(sources)
	if err := printFindings(stdout, o.output, findings, len(sources)); err != nil {
		return err
	}
	g.log.Info("check done", "files", len(sources), "findings", len(findings))
	return lint.Result(findings)
}

// run is check --live: the same rules on the SparkApplications of the
// cluster.
func (o *checkOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	var namespaces []string // none: every namespace
	switch {
	case len(o.namespaces) > 1:
		namespaces = o.namespaces
	case !o.allNamespaces:
		namespaces = []string{ns}
	}
	for _, n := range namespaces {
		if err := g.checkNamespace(ctx, clients, n); err != nil {
			return err
		}
	}
	sources, err := hook.LiveSources(ctx, clients, g.log, o.retry(), namespaces)
	if err != nil {
		return err
	}
	findings := lint.Check(sources)
	for i := range findings {
		// A line of the YAML the tool made from the object points nowhere
		// a person can open; the object's name is the location.
		findings[i].Line = 0
	}
	if err := printFindings(stdout, o.output, findings, len(sources)); err != nil {
		return err
	}
	g.log.Info("check done", "applications", len(sources), "findings", len(findings))
	return lint.Result(findings)
}

func checkCommand(g *globals) *cli.Command {
	o := &checkOptions{}
	common := o.flags(checkFormats...)
	// check runs in pre-commit hooks and CI, beside jobs that may set
	// SPARKCM_OUTPUT for a ledger format check does not print: its -o has
	// a variable of its own.
	common[0].(*cli.StringFlag).EnvVars = env("check-output")
	common[0].(*cli.StringFlag).Usage = "findings format on stdout: text or json"
	common[1].(*cli.DurationFlag).Usage = "with --live, give up after this long in total, retries included (0: no limit)"
	common[2].(*cli.DurationFlag).Usage = "with --live, how long each API call may be retried on transient failures"
	live := g.action(o)
	return &cli.Command{
		Name:      "check",
		Usage:     "lint SparkApplication manifests (offline, or live in a cluster) for settings that leave ConfigMaps behind",
		UsageText: "sparkcm-hook check [-o text|json] FILE|DIR...\n   sparkcm-hook check --live (-n NAMESPACE[,NAMESPACE...] | -A) [--timeout D] [-o text|json]",
		Description: `Reads the SparkApplication manifests a DAG repository submits (Airflow application_file
templates, Kubeflow sparkoperator.k8s.io and Apache spark.apache.org SparkApplications, and the
ConfigMaps beside them) and reports what makes Spark's ConfigMaps outlive the application. It reads
files only: no cluster, no credentials, so it runs in pre-commit hooks and CI. A directory is read
recursively for *.yaml, *.yml and Jinja templates (*.j2, *.jinja, *.jinja2); hidden directories are
skipped; a file named on the command line is always read.

Rules:
  missing-ttl                     Kubeflow application without spec.timeToLiveSeconds
  retain-without-bound            Apache resourceRetainPolicy Always|OnFailure with neither
                                  resourceRetainDurationMillis nor ttlAfterStopMillis >= 0
  executor-deletion-disabled      sparkConf spark.kubernetes.executor.deleteOnTermination=false
  local-deps-without-upload-path  a file:// or scheme-less dependency without
                                  spark.kubernetes.file.upload.path
  user-map-without-owner          a ConfigMap in the files, supplied to an application (sparkConfigMap,
                                  hadoopConfigMap, driver/executor configMaps, volumes), without owner
  unparsed (note)                 Jinja or YAML the parser cannot read even with {{ }} and {% %}
                                  blanked; the obvious keys are then read line by line

Jinja expressions ({{ }}) count as set values whose content is unknown: a templated TTL is a TTL.
-o text prints "file:line: rule: message (remedy)" per finding; -o json one document with all of them.

--live runs the same rules on the SparkApplications in a cluster instead of files: it lists them
(read-only: list sparkapplications, page by page; rbac preflight --for check) in the namespaces
of -n, every namespace with -A, or the context's, in sparkoperator.k8s.io and, when served,
spark.apache.org. A group the API server does not serve, or an Apache group the identity may not
list, is skipped with a warning on stderr. A finding names the object instead of file:line,
"sparkapplication/NS/NAME: rule: message (remedy)". user-map-without-owner is left to the
offline mode: the live check reads no ConfigMaps.

` + checkExitCodes,
		Before: g.setup,
		Flags: withGlobals([]cli.Flag{
			&cli.BoolFlag{Name: "live", Usage: "check the SparkApplications in the cluster instead of files", EnvVars: env("live"), Destination: &o.live},
			allNamespacesFlag(&o.allNamespaces, "with --live, check every namespace"),
		}, common),
		Action: func(c *cli.Context) error {
			if o.live {
				return live(c)
			}
			o.args = g.args
			o.complete(c, g)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.runFiles(g, c.App.Writer)
		},
	}
}

func printFindings(w io.Writer, output string, findings []lint.Finding, files int) error {
	if output == "json" {
		if findings == nil {
			findings = []lint.Finding{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Files    int            `json:"files"`
			Findings []lint.Finding `json:"findings"`
		}{files, findings})
	}
	for _, f := range findings {
		loc := f.File
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if _, err := fmt.Fprintf(w, "%s: %s: %s (%s)\n", loc, f.Rule, f.Message, f.Remedy); err != nil {
			return err
		}
	}
	return nil
}
