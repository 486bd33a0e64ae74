package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/lint"
)

// checkFormats are check's -o values; the first is the default. text is the
// linters' file:line: form that editors and CI annotate.
var checkFormats = []string{"text", "json"}

func checkCommand(g *globals) *cli.Command {
	var output string
	return &cli.Command{
		Name:      "check",
		Usage:     "lint SparkApplication manifests (offline) for settings that leave ConfigMaps behind",
		UsageText: "sparkcm-hook check [-o text|json] FILE|DIR...",
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

` + checkExitCodes,
		Before: g.setup,
		Flags: withGlobals([]cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: checkFormats[0], Usage: "findings format on stdout: text or json", EnvVars: env("check-output"), Destination: &output},
		}),
		Action: func(c *cli.Context) error {
			if output != "text" && output != "json" {
				return hook.Usagef("-o %q: check prints text or json", output)
			}
			// check reads no cluster: a cluster flag given to it would
			// be silently ignored, so it is refused.
			for _, name := range []string{"kubeconfig", "context", "namespace", "qps", "burst"} {
				for _, ctx := range c.Lineage() {
					if ctx.IsSet(name) {
						return hook.Usagef("check reads files only; --%s does not apply", name)
					}
				}
			}
			if c.NArg() == 0 {
				return hook.Usagef("check takes the files or directories to read, e.g. check dags/")
			}
			sources, err := lint.Load(c.Args().Slice())
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
		if _, err := fmt.Fprintf(w, "%s:%d: %s: %s (%s)\n", f.File, f.Line, f.Rule, f.Message, f.Remedy); err != nil {
			return err
		}
	}
	return nil
}
