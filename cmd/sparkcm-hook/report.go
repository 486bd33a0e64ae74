package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// reportFormats are report's -o values; the first is the default.
var reportFormats = []string{"text", "json", "yaml", "markdown"}

// reportOptions are report's flags: the common ones and the library's.
type reportOptions struct {
	common
	hook.ReportOptions
	exclude        cli.StringSlice
	orphanSet      bool
	namespaceGiven bool
	namespaces     []string
	preflight      bool
	notifyWebhook  string
}

func reportCommand(g *globals) *cli.Command {
	o := &reportOptions{}
	return &cli.Command{
		Name:      "report",
		Usage:     "the backlog at a glance: leftover Spark ConfigMaps, why each is there, and what sweep would do (read-only)",
		UsageText: g.prog + " report (-n NAMESPACE[,NAMESPACE...] | -A [--exclude-namespaces NS,...]) [--older-than 0s] [--orphan-older-than 168h] [--sizes] [--top N] [-o " + strings.Join(reportFormats, "|") + "]",
		Description: `Reads what sweep reads, with the same rights (list ConfigMaps as metadata, list Pods, get, list and
watch SparkApplications; rbac preflight --for report), and deletes nothing: it runs sweep's own
judgement in dry run, so its "would delete" and "kept" counts are those of
"sweep --dry-run" with the same scope and --older-than, map for map.

Every map sweep considers is counted per namespace, kind, age and application, and attributed
to the one cause that left it there, each with its remedy:
  no-ttl                 SparkApplication without spec.timeToLiveSeconds: it, its finished driver Pod and
                         every map the Pod owns stay            (spec: {timeToLiveSeconds: 3600})
  driver-pod-kept        finished driver Pod of spark-submit without the operator, never deleted by Spark
  no-owner               map with no owner (client mode, Spark 3.1.0/3.1.1, an operator that set none)
  user-supplied          spec.sparkConfigMap, hadoopConfigMap, configMaps without an ownerReference
  executor-deletion-off  spark.kubernetes.executor.deleteOnTermination=false
  ttl-not-due, owner-gone, running, state-unknown, not-sparks: going, or not leftovers
Kept maps are counted by why sweep keeps them. Memory holds counts, never lists of maps.

--notify-webhook URL POSTs the report as JSON (what -o json prints) once it is complete.

--sizes adds bytes (what the backlog costs in etcd): the ConfigMaps are listed once more in full,
page by page, keeping one number per map. -o text is a few lines; markdown is for a ticket; json
and yaml hold every count.

` + exitCodesHelp,
		Before: g.setup,
		Flags: withGlobals([]cli.Flag{
			allNamespacesFlag(&o.AllNamespaces, "report on every namespace"),
			&cli.StringSliceFlag{Name: "exclude-namespaces", Usage: "with -A, namespaces whose ConfigMaps are never listed (repeated or comma-separated)", EnvVars: env("exclude-namespaces"), Destination: &o.exclude},
			&cli.DurationFlag{Name: "older-than", Usage: "sweep's --older-than: the report says what sweep with it would do (default 0s: any age)", EnvVars: env("older-than"), Destination: &o.OlderThan},
			&cli.DurationFlag{Name: "orphan-older-than", Value: hook.DefaultOrphanOlderThan, Usage: "sweep's --orphan-older-than; never shorter than --older-than", EnvVars: env("orphan-older-than"), Destination: &o.OrphanOlderThan},
			&cli.BoolFlag{Name: "sizes", Usage: "add each map's bytes: list the ConfigMaps once more in full, page by page", EnvVars: env("sizes"), Destination: &o.Sizes},
			&cli.IntFlag{Name: "top", Value: hook.DefaultTopApps, Usage: "how many applications to name, those with the most maps first", EnvVars: env("top"), Destination: &o.TopApps},
			&cli.StringFlag{Name: "notify-webhook", Usage: "POST the report as JSON to this http(s) URL (retried briefly; a failure is logged and never fails the report)", EnvVars: env("notify-webhook"), Destination: &o.notifyWebhook},
			preflightFlag(&o.preflight),
		}, o.flags(reportFormats...)),
		Action: g.action(o),
	}
}

func (o *reportOptions) complete(c *cli.Context, g *globals) {
	o.orphanSet = c.IsSet("orphan-older-than")
	if !o.orphanSet {
		o.OrphanOlderThan = 0 // the library's default, as sweep's
	}
	o.namespaceGiven = g.namespaceSet
	o.namespaces = g.namespaces
	o.ExcludeNamespaces = distinct(o.exclude.Value())
	o.Retry = o.retry()
}

// Validate checks every flag of report without reading any configuration.
func (o *reportOptions) Validate() error {
	if err := o.validate("report"); err != nil {
		return err
	}
	if err := validateAges(o.OlderThan, o.OrphanOlderThan, o.orphanSet); err != nil {
		return err
	}
	if o.TopApps < 1 {
		return hook.Usagef("--top must be at least 1")
	}
	return validateScope(o.namespaceGiven, o.AllNamespaces, o.ExcludeNamespaces, o.notifyWebhook)
}

func (o *reportOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
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
	if err := g.preflight(ctx, &o.common, o.preflight, hook.CommandReport, clients, o.Namespace); err != nil {
		return err
	}
	r, err := hook.Report(ctx, clients, g.log, o.ReportOptions)
	if r != nil {
		if werr := writeReport(stdout, o.output, r); werr != nil && err == nil {
			err = werr
		}
		if o.notifyWebhook != "" && err == nil {
			notifyWebhook(ctx, g, o.notifyWebhook, r, "report")
		}
	}
	return err
}

// writeReport prints a report in one of reportFormats.
func writeReport(w io.Writer, format string, r *hook.ReportResult) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "markdown":
		return writeReportMarkdown(w, r)
	}
	return writeReportText(w, r)
}

// bytesText is a size for people: B, KiB, MiB, GiB.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), []string{"KiB", "MiB", "GiB", "TiB"}
	i := -1
	for v >= unit && i < len(suffix)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, suffix[i])
}

// sized is "; 1.2 MiB" with sizes, else "".
func sized(r *hook.ReportResult, n int64) string {
	if !r.Sizes {
		return ""
	}
	return "; " + bytesText(n)
}

// writeReportText is what a person reads in ten seconds: the totals, the
// causes with their remedies, why the rest stays, and where the backlog
// is.
func writeReportText(w io.Writer, r *hook.ReportResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d Spark ConfigMap(s) in %s%s, of %d application(s): sweep --older-than %s would delete %d, keeps %d",
		r.Total.Maps, r.Scope, sized(r, r.Total.Bytes), r.Applications, r.OlderThan, r.Total.WouldDelete, r.Total.Kept)
	if r.Total.Failed > 0 {
		fmt.Fprintf(&b, ", could not decide %d", r.Total.Failed)
	}
	b.WriteString("\n")
	if len(r.Causes) > 0 {
		b.WriteString("why they are there:\n")
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		for _, c := range r.Causes {
			fix := "fix: " + c.Remedy
			if c.Example != "" {
				fix += ": " + c.Example
			} else if strings.HasPrefix(c.Remedy, "nothing") {
				fix = c.Remedy // nothing to fix reads as is
			}
			fmt.Fprintf(tw, "  %d\t%s\t(%d would go%s)\t%s\n", c.Maps, c.Cause, c.WouldDelete, sized(r, c.Bytes), fix)
		}
		_ = tw.Flush()
	}
	if big := r.BigMaps; big != nil && big.Maps > 0 {
		fmt.Fprintf(&b, "big maps: %d of %s or more (%s): %s; fix: %s: %s\n",
			big.Maps, bytesText(big.Threshold), bytesText(big.Bytes), big.Title, big.Remedy, big.Example)
	}
	if len(r.Kept) > 0 {
		parts := make([]string, 0, len(r.Kept))
		for _, k := range r.Kept {
			parts = append(parts, fmt.Sprintf("%d %s", k.Maps, k.Title))
		}
		fmt.Fprintf(&b, "kept: %s\n", strings.Join(parts, "; "))
	}
	if len(r.Namespaces) > 1 {
		fmt.Fprintf(&b, "namespaces: %s\n", rowsText(r.Namespaces, 5))
	}
	if len(r.Ages) > 0 {
		fmt.Fprintf(&b, "ages: %s\n", rowsText(r.Ages, 0))
	}
	if len(r.TopApps) > 0 {
		a := r.TopApps[0]
		fmt.Fprintf(&b, "largest application: %s/%s, %d map(s) (%s)\n", a.Namespace, a.AppID, a.Maps, a.Cause)
	}
	for _, u := range r.Unreadable {
		fmt.Fprintf(&b, "namespace %s not read: %s\n", u.Namespace, u.Reason)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// rowsText is "key n, key n" for the first max rows (all with 0), and how
// many more.
func rowsText(rows []hook.Row, limit int) string {
	parts := []string{}
	for i, r := range rows {
		if limit > 0 && i == limit {
			parts = append(parts, fmt.Sprintf("%d more", len(rows)-limit))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", r.Key, r.Maps))
	}
	return strings.Join(parts, ", ")
}

// mdCell keeps a table cell on one line and its pipes literal.
func mdCell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// writeReportMarkdown is the report as a ticket holds it: a summary line
// and one table per breakdown.
func writeReportMarkdown(w io.Writer, r *hook.ReportResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Spark ConfigMap backlog in %s\n\n", mdCell(r.Scope))
	fmt.Fprintf(&b, "%d map(s)%s of %d application(s); `sweep --older-than %s` would delete **%d** and keep **%d**",
		r.Total.Maps, sized(r, r.Total.Bytes), r.Applications, r.OlderThan, r.Total.WouldDelete, r.Total.Kept)
	if r.Total.Failed > 0 {
		fmt.Fprintf(&b, " (%d undecided)", r.Total.Failed)
	}
	b.WriteString(".\n\n")
	size := func(n int64) string {
		if !r.Sizes {
			return ""
		}
		return " | " + bytesText(n)
	}
	sizeHead, sizeRule := "", ""
	if r.Sizes {
		sizeHead, sizeRule = " | bytes", " | ---:"
	}
	b.WriteString("| cause | maps | would delete | kept" + sizeHead + " | fix |\n|---|---:|---:|---:" + sizeRule + "|---|\n")
	for _, c := range r.Causes {
		fix := mdCell(c.Remedy)
		if c.Example != "" {
			fix += ": `" + mdCell(c.Example) + "`"
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d%s | %s |\n", c.Cause, c.Maps, c.WouldDelete, c.Kept, size(c.Bytes), fix)
	}
	if big := r.BigMaps; big != nil && big.Maps > 0 {
		fmt.Fprintf(&b, "\n**Big maps**: %d of %s or more (%s), %s. Fix: %s: `%s`\n",
			big.Maps, bytesText(big.Threshold), bytesText(big.Bytes), mdCell(big.Title), mdCell(big.Remedy), mdCell(big.Example))
	}
	if len(r.Kept) > 0 {
		b.WriteString("\n| kept because | maps |\n|---|---:|\n")
		for _, k := range r.Kept {
			fmt.Fprintf(&b, "| %s | %d |\n", mdCell(k.Title), k.Maps)
		}
	}
	for _, t := range []struct {
		title string
		rows  []hook.Row
	}{{"namespace", r.Namespaces}, {"kind", r.Kinds}, {"age", r.Ages}} {
		if len(t.rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n| %s | maps | would delete | kept%s |\n|---|---:|---:|---:%s|\n", t.title, sizeHead, sizeRule)
		for _, row := range t.rows {
			fmt.Fprintf(&b, "| %s | %d | %d | %d%s |\n", mdCell(row.Key), row.Maps, row.WouldDelete, row.Kept, size(row.Bytes))
		}
	}
	if len(r.TopApps) > 0 {
		b.WriteString("\n| application | namespace | cause | maps | would delete |\n|---|---|---|---:|---:|\n")
		for _, a := range r.TopApps {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d |\n", mdCell(a.AppID), mdCell(a.Namespace), a.Cause, a.Maps, a.WouldDelete)
		}
	}
	for _, u := range r.Unreadable {
		fmt.Fprintf(&b, "\nNamespace %s was not read: %s\n", mdCell(u.Namespace), mdCell(u.Reason))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
