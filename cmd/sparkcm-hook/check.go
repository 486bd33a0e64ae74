package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
)

// checkFormats are check's -o values; the first is the default. text is the
// linters' file:line: form that editors and CI annotate.
var checkFormats = []string{"text", "json"}

func checkCommand(g *globals) *cli.Command {
	var (
		output        string
		live          bool
		allNamespaces bool
		timeout       time.Duration
	)
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
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: checkFormats[0], Usage: "findings format on stdout: text or json", EnvVars: env("check-output"), Destination: &output},
			&cli.BoolFlag{Name: "live", Usage: "check the SparkApplications in the cluster instead of files", EnvVars: env("live"), Destination: &live},
			allNamespacesFlag(&allNamespaces, "with --live, check every namespace"),
			&cli.DurationFlag{Name: "timeout", Usage: "with --live, give up after this long in total, retries included (0: no limit)", EnvVars: env("timeout"), Destination: &timeout},
		}),
		Action: func(c *cli.Context) error {
			if output != "text" && output != "json" {
				return hook.Usagef("-o %q: check prints text or json", output)
			}
			if live {
				return checkLive(c, g, output, allNamespaces, timeout)
			}
			// Offline, check reads no cluster: a cluster flag given to it
			// would be silently ignored, so it is refused.
			for _, name := range []string{"kubeconfig", "context", "namespace", "qps", "burst", "all-namespaces", "timeout"} {
				for _, ctx := range c.Lineage() {
					if ctx.IsSet(name) {
						return hook.Usagef("check reads files only without --live; --%s does not apply", name)
					}
				}
			}
			if len(g.args) == 0 {
				return hook.Usagef("check takes the files or directories to read, e.g. check dags/, or --live")
			}
			sources, err := lint.Load(g.args)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return hook.Usagef("%v", err)
				}
				return err
			}
			findings := lint.Check(sources)
			if err := printFindings(c, output, findings, len(sources)); err != nil {
				return err
			}
			g.log.Info("check done", "files", len(sources), "findings", len(findings))
			return lint.Result(findings)
		},
	}
}

// checkLive runs the rules on the SparkApplications of the cluster.
func checkLive(c *cli.Context, g *globals, output string, allNamespaces bool, timeout time.Duration) error {
	switch {
	case len(g.args) > 0:
		return hook.Usagef("check --live reads the cluster, not files; give files or --live, not both (got %q)", g.args[0])
	case timeout < 0:
		return hook.Usagef("--timeout must not be negative")
	}
	if err := exclusiveScope(g.namespaceSet, allNamespaces); err != nil {
		return err
	}
	ctx, cancel := withTimeout(c.Context, timeout)
	defer cancel()
	clients, ns, err := g.clients()
	if err != nil {
		return err
	}
	var namespaces []string // none: every namespace
	switch {
	case len(g.namespaces) > 1:
		namespaces = g.namespaces
	case !allNamespaces:
		namespaces = []string{ns}
	}
	for _, n := range namespaces {
		if err := g.checkNamespace(ctx, clients, n); err != nil {
			return err
		}
	}
	sources, err := hook.LiveSources(ctx, clients, g.log, hook.RetryPolicy{}, namespaces)
	if err != nil {
		return err
	}
	findings := lint.Check(sources)
	for i := range findings {
		// A line of the YAML the tool made from the object points nowhere
		// a person can open; the object's name is the location.
		findings[i].Line = 0
	}
	if err := printFindings(c, output, findings, len(sources)); err != nil {
		return err
	}
	g.log.Info("check done", "applications", len(sources), "findings", len(findings))
	return lint.Result(findings)
}

func printFindings(c *cli.Context, output string, findings []lint.Finding, files int) error {
	w := c.App.Writer
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
