package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
	"github.com/sparkcm-hook/sparkcm-hook/hook/rbac"
)

const rbacExitCodes = `EXIT CODES:
   0  done (who-can and inventory: also when some kinds could not be read; the output names them)
   1  failed after retries
   2  invalid usage or input
   3  forbidden: preflight found a verb missing (the Role that grants it is on stdout), or nothing could be read
   5  who-can: the API server's SubjectAccessReview disagrees with the roles and bindings on some row
      (another authorizer, or a binding changed meanwhile); the output is complete and marks them`

func rbacCommand(g *globals) *cli.Command {
	return &cli.Command{
		Name:  "rbac",
		Usage: "check and audit RBAC: preflight, ServiceAccount inventory, who can delete ConfigMaps",
		Subcommands: []*cli.Command{
			preflightCommand(g),
			inventoryCommand(g),
			whoCanCommand(g),
		},
	}
}

// preflightOptions are rbac preflight's flags.
type preflightOptions struct {
	common
	forCommand     string
	all            bool
	namespaceGiven bool
}

func (o *preflightOptions) complete(_ *cli.Context, g *globals) { o.namespaceGiven = g.namespaceSet }

// Validate checks every flag of rbac preflight without reading any
// configuration.
func (o *preflightOptions) Validate() error {
	if err := o.validate("preflight"); err != nil {
		return err
	}
	if hook.PermissionsFor(o.forCommand) == nil {
		return hook.Usagef("--for must be one of %s|%s, not %q", strings.Join(hook.Commands(), "|"), hook.CommandAll, o.forCommand)
	}
	return exclusiveScope(o.namespaceGiven, o.all)
}

func (o *preflightOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	if o.all {
		ns = ""
	} else if err := hook.ValidateNamespace(ns); err != nil {
		return err
	}
	p, err := rbac.RunPreflight(ctx, clients.Kube, g.log, rbac.PreflightOptions{Command: o.forCommand, Namespace: ns, Retry: o.retry()})
	if p != nil {
		if werr := writePreflight(stdout, o.output, p); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func preflightCommand(g *globals) *cli.Command {
	o := &preflightOptions{}
	return &cli.Command{
		Name:      "preflight",
		Usage:     "may this identity run cleanup, sweep, watch or report here? prints the Role that would let it",
		UsageText: g.prog + " rbac preflight (-n NAMESPACE | -A) [--for cleanup|sweep|watch|report|check|controller|all] [-o text|json|yaml]",
		Description: `Asks the API server, one SelfSubjectAccessReview per verb, whether the current identity has
exactly the access the command needs (the README's RBAC table and the Helm chart's Role) and prints
each as allowed or denied. When any required verb is denied it prints a Role and RoleBinding (with
-A a ClusterRole and ClusterRoleBinding) for the identity the API server sees (SelfSubjectReview)
that grant only the missing verbs, and exits 3. The text output is YAML: the report is in comments,
so "` + g.prog + ` rbac preflight ... | kubectl apply -f -" applies the grant (as someone allowed to).
Creates nothing but access reviews.

` + rbacExitCodes,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				&cli.StringFlag{Name: "for", Value: hook.CommandAll, Usage: "the command to check: cleanup, sweep, watch, report, check, controller, or all (what the chart grants)", EnvVars: env("for"), Destination: &o.forCommand},
				allNamespacesFlag(&o.all, "check cluster-wide access (sweep -A, report -A)"),
			},
			o.flags("text", "json", "yaml"),
		),
		Action: g.action(o),
	}
}

// preflightFlag is --preflight on cleanup, sweep and watch.
func preflightFlag(dst *bool) cli.Flag {
	return &cli.BoolFlag{Name: "preflight", Usage: "first check (with access reviews only) that this identity has every verb the command needs; exit 3 with the Role to grant if not", EnvVars: env("preflight"), Destination: dst}
}

// preflight runs `rbac preflight --for command` before a command that
// deletes, when --preflight is set. On denial it prints the same report as
// `rbac preflight` and returns its error (exit 3) before the command sends
// anything else.
func (g *globals) preflight(ctx context.Context, o *common, enabled bool, command string, clients hook.Clients, ns string) error {
	if !enabled {
		return nil
	}
	output := o.output
	p, err := rbac.RunPreflight(ctx, clients.Kube, g.log, rbac.PreflightOptions{Command: command, Namespace: ns, Retry: o.retry()})
	var denied *rbac.DeniedError
	if errors.As(err, &denied) {
		if output != "json" && output != "yaml" {
			output = "text"
		}
		if werr := writePreflight(g.stdout, output, p); werr != nil {
			return werr
		}
		return err
	}
	if err != nil {
		return err
	}
	g.log.Info("preflight: every verb the command needs is allowed", "command", command, "user", p.User, "verbs", len(p.Checks))
	return nil
}

func writePreflight(w io.Writer, output string, p *rbac.Preflight) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	bw := bufio.NewWriter(w)
	where := "in namespace " + p.Namespace
	if p.Namespace == "" {
		where = "in all namespaces"
	}
	fmt.Fprintf(bw, "# sparkcm-hook rbac preflight: %s %s as %s\n", p.Command, where, p.User)
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	for _, ch := range p.Checks {
		result := "allowed"
		switch {
		case !ch.Allowed && ch.Optional:
			result = "denied (optional)"
		case !ch.Allowed:
			result = "DENIED"
		}
		fmt.Fprintf(tw, "#   %s\t%s\t%s\t%s\n", result, ch.Verb, kube.ResourceName(ch.Group, ch.Resource), ch.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	denied := p.Denied()
	if len(denied) == 0 {
		fmt.Fprintf(bw, "# every required verb is allowed\n")
		return bw.Flush()
	}
	fmt.Fprintf(bw, "# %d required verb(s) denied. The objects below grant exactly those to %s:\n", len(denied), p.User)
	fmt.Fprintf(bw, "# apply them as someone allowed to (kubectl apply -f <this output>).\n")
	if _, err := bw.WriteString(p.Manifest); err != nil {
		return err
	}
	return bw.Flush()
}

// inventoryOptions are rbac inventory's flags.
type inventoryOptions struct {
	common
	all            bool
	podNames       int
	namespaceGiven bool
}

func (o *inventoryOptions) complete(_ *cli.Context, g *globals) { o.namespaceGiven = g.namespaceSet }

// Validate checks every flag of rbac inventory without reading any
// configuration.
func (o *inventoryOptions) Validate() error {
	if err := o.validate("inventory"); err != nil {
		return err
	}
	if o.podNames < 1 {
		return hook.Usagef("--pod-names must be at least 1")
	}
	return exclusiveScope(o.namespaceGiven, o.all)
}

func (o *inventoryOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	if !o.all {
		if err := g.checkNamespace(ctx, clients, ns); err != nil {
			return err
		}
	}
	w := newInventoryWriter(stdout, o.output)
	sum, err := rbac.Inventory(ctx, clients, g.log, rbac.InventoryOptions{Namespace: ns, AllNamespaces: o.all, PodNames: o.podNames, Retry: o.retry()}, w.row)
	if err != nil {
		return err
	}
	if err := w.finish(sum); err != nil {
		return err
	}
	for _, gap := range sum.Gaps {
		g.log.Warn(gap.String())
	}
	g.log.Info("inventory", "accounts", sum.Accounts, "unused", sum.Unused, "rows", sum.Rows, "roles", sum.Roles, "bindings", sum.Bindings, "gaps", len(sum.Gaps))
	return nil
}

func inventoryCommand(g *globals) *cli.Command {
	o := &inventoryOptions{}
	return &cli.Command{
		Name:      "inventory",
		Usage:     "every ServiceAccount, each grant that reaches it, and the Pods that run as it",
		UsageText: g.prog + " rbac inventory (-n NAMESPACE | -A) [-o table|csv|json] [--pod-names 10]",
		Description: `One row per ServiceAccount and grant: namespace, account, the binding path (including the groups
every account is in: system:serviceaccounts, system:serviceaccounts:<ns>, system:authenticated),
role, API groups, resources, resource names, verbs, the Pods that run as it and their owners
(Deployment, CronJob, ... resolved through ReplicaSets and Jobs), its automount setting and age. An
account with no grant still has a row; an account no Pod uses is marked unused. Each kind is read
with one paged LIST; memory grows with roles, bindings and accounts, not with Pods. A kind the
caller may not list is named in the output (and in each row it may affect), never skipped silently.

` + rbacExitCodes,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				allNamespacesFlag(&o.all, "every namespace"),
				&cli.IntFlag{Name: "pod-names", Value: rbac.DefaultPodNames, Usage: "Pod and owner names shown per account (counts are always complete)", EnvVars: env("pod-names"), Destination: &o.podNames},
			},
			o.flags("table", "csv", "json"),
		),
		Action: g.action(o),
	}
}

// inventoryWriter streams rows in the -o format.
type inventoryWriter struct {
	format string
	w      io.Writer
	bw     *bufio.Writer
	tw     *tabwriter.Writer
	cw     *csv.Writer
	n      int
	err    error
}

var inventoryCSVHeader = []string{"namespace", "serviceaccount", "via", "binding_kind", "binding_namespace", "binding_name",
	"role_kind", "role_namespace", "role_name", "aggregated_from", "cluster_wide", "api_groups", "resources", "resource_names",
	"non_resource_urls", "verbs", "pods", "pod_count", "owners", "unused", "automount", "created", "gaps"}

func newInventoryWriter(w io.Writer, format string) *inventoryWriter {
	iw := &inventoryWriter{format: format, w: w, bw: bufio.NewWriter(w)}
	switch format {
	case "csv":
		iw.cw = csv.NewWriter(iw.bw)
		iw.err = iw.cw.Write(inventoryCSVHeader)
	case "json":
		_, iw.err = iw.bw.WriteString("{\n  \"rows\": [\n")
	default:
		iw.tw = tabwriter.NewWriter(iw.bw, 0, 4, 2, ' ', 0)
		_, iw.err = fmt.Fprintln(iw.tw, "NAMESPACE\tSERVICEACCOUNT\tVIA\tAPIGROUPS\tRESOURCES\tNAMES\tVERBS\tPODS\tAUTOMOUNT\tAGE")
	}
	return iw
}

func (w *inventoryWriter) row(r rbac.InventoryRow) error {
	if w.err != nil {
		return w.err
	}
	switch w.format {
	case "csv":
		b, ro := r.Binding, r.Role
		if b == nil {
			b, ro = &rbac.Ref{}, &rbac.Ref{}
		}
		w.err = w.cw.Write([]string{r.Namespace, r.ServiceAccount, r.Via, b.Kind, b.Namespace, b.Name, ro.Kind, ro.Namespace, ro.Name,
			r.AggregatedFrom, fmt.Sprint(r.ClusterWide), groups(r.APIGroups), strings.Join(r.Resources, " "), strings.Join(r.ResourceNames, " "),
			strings.Join(r.NonResourceURLs, " "), strings.Join(r.Verbs, " "), strings.Join(r.Pods, " "), podCount(r), owners(r),
			fmt.Sprint(r.Unused), r.Automount, r.Created.Format(time.RFC3339), strings.Join(r.Gaps, "; ")})
	case "json":
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sep := ",\n"
		if w.n == 0 {
			sep = ""
		}
		_, w.err = fmt.Fprintf(w.bw, "%s    %s", sep, b)
	default:
		via := r.Via
		if via == "" {
			via = "(no grants)"
		}
		rules := []string{groups(r.APIGroups), strings.Join(r.Resources, ","), strings.Join(r.ResourceNames, ","), strings.Join(r.Verbs, ",")}
		if len(r.NonResourceURLs) > 0 {
			rules[1] = "urls:" + strings.Join(r.NonResourceURLs, ",")
		}
		for i := range rules {
			rules[i] = dash(rules[i])
		}
		pods := "UNUSED"
		switch {
		case r.PodsUnknown:
			pods = "unknown"
		case r.PodCount > 0:
			pods = podSummary(r)
		}
		_, w.err = fmt.Fprintf(w.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Namespace, r.ServiceAccount, via,
			rules[0], rules[1], rules[2], rules[3], pods, r.Automount, duration.HumanDuration(time.Since(r.Created)))
	}
	w.n++
	return w.err
}

func (w *inventoryWriter) finish(sum *rbac.InventorySummary) error {
	if w.err != nil {
		return w.err
	}
	switch w.format {
	case "csv":
		w.cw.Flush()
		if err := w.cw.Error(); err != nil {
			return err
		}
	case "json":
		s, err := json.Marshal(struct {
			Accounts int        `json:"accounts"`
			Unused   int        `json:"unused"`
			Rows     int        `json:"rows"`
			Roles    int        `json:"roles"`
			Bindings int        `json:"bindings"`
			Gaps     []rbac.Gap `json:"gaps"`
		}{sum.Accounts, sum.Unused, sum.Rows, sum.Roles, sum.Bindings, orEmpty(sum.Gaps)})
		if err != nil {
			return err
		}
		fmt.Fprintf(w.bw, "\n  ],\n  \"summary\": %s\n}\n", s)
	default:
		if err := w.tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w.bw, "%d ServiceAccount(s), %d used by no Pod; %d row(s) from %d role(s) and %d binding(s)\n", sum.Accounts, sum.Unused, sum.Rows, sum.Roles, sum.Bindings)
		for _, g := range sum.Gaps {
			fmt.Fprintf(w.bw, "GAP: %s\n", g)
		}
	}
	return w.bw.Flush()
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func groups(gs []string) string {
	out := make([]string, len(gs))
	for i, g := range gs {
		if g == "" {
			g = `""`
		}
		out[i] = g
	}
	return strings.Join(out, ",")
}

func podCount(r rbac.InventoryRow) string {
	if r.PodsUnknown {
		return "unknown"
	}
	return fmt.Sprint(r.PodCount)
}

func owners(r rbac.InventoryRow) string {
	parts := make([]string, 0, len(r.Owners)+1)
	for _, o := range r.Owners {
		parts = append(parts, o.String())
	}
	if r.MoreOwners > 0 {
		parts = append(parts, fmt.Sprintf("+%d more", r.MoreOwners))
	}
	return strings.Join(parts, "; ")
}

func podSummary(r rbac.InventoryRow) string {
	s := fmt.Sprintf("%d", r.PodCount)
	if o := owners(r); o != "" {
		s += ": " + o
	} else {
		s += ": " + strings.Join(r.Pods, ",")
	}
	return s
}

// whoCanOptions are rbac who-can's arguments and flags.
type whoCanOptions struct {
	common
	rbac.WhoCanOptions
	verb                  string
	resource              rbac.ResourceArg
	name                  string
	noConfirm, noIndirect bool
	namespaceGiven        bool
}

func (o *whoCanOptions) complete(_ *cli.Context, g *globals) { o.namespaceGiven = g.namespaceSet }

// Validate checks VERB, RESOURCE and every flag of rbac who-can without
// reading any configuration.
func (o *whoCanOptions) Validate() error {
	if len(o.args) != 2 {
		return hook.Usagef("who-can takes VERB and RESOURCE, e.g. who-can delete configmaps -n data-jobs")
	}
	o.verb = o.args[0]
	if o.verb == "" || strings.ToLower(o.verb) != o.verb || strings.ContainsAny(o.verb, " /") {
		return hook.Usagef("verb %q: want a lower-case verb such as get, list, delete, or *", o.verb)
	}
	res, err := rbac.ParseResource(o.args[1])
	if err != nil {
		return err
	}
	o.resource = res
	if err := o.validateFlags(); err != nil {
		return err
	}
	if o.name != "" {
		if err := hook.ValidateObjectName("--name", o.name); err != nil {
			return err
		}
	}
	return exclusiveScope(o.namespaceGiven, o.AllNamespaces)
}

func (o *whoCanOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	if o.AllNamespaces {
		ns = ""
	} else if err := g.checkNamespace(ctx, clients, ns); err != nil {
		return err
	}
	res := o.resource.Resolve(ctx, clients.Kube.Discovery(), g.log)
	o.Request = rbac.Request{Verb: o.verb, Group: res.Group, Resource: res.Resource, Subresource: res.Subresource, Name: o.name, Namespace: ns}
	o.ClusterScoped = !res.Namespaced
	o.Confirm, o.Indirect = !o.noConfirm, !o.noIndirect
	o.Retry = o.retry()
	result, err := rbac.WhoCan(ctx, clients, g.log, o.WhoCanOptions)
	if result != nil {
		if werr := writeWhoCan(stdout, o.output, result); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func whoCanCommand(g *globals) *cli.Command {
	o := &whoCanOptions{}
	return &cli.Command{
		Name:      "who-can",
		Usage:     "every ServiceAccount, user and group that may VERB RESOURCE, each answer checked by the API server",
		UsageText: g.prog + " rbac who-can VERB RESOURCE[.GROUP][/SUBRESOURCE] (-n NAMESPACE | -A) [--name NAME] [-o table|json]",
		Description: `Answers from the binding graph who may send the request: users, groups and ServiceAccounts
(including through the groups every account is in, and system:masters, which bypasses RBAC), with
three answers: yes (any name), only these names (resourceNames), or no. Wildcard verbs, groups
and resources, "*/subresource" rules and aggregated ClusterRoles count as RBAC counts them. Each
answer is confirmed with a SubjectAccessReview and any disagreement is shown (another authorizer,
such as a webhook, or an evaluation error the API server reports as incomplete). Flags mark grants
that hold cluster-wide, use wildcards, or are shared with Pods other than sparkcm-hook's own.

It also lists who may reach the request indirectly: create Pods (or workloads) in a namespace
whose ServiceAccount can, bind or escalate roles, or impersonate users, groups or ServiceAccounts.

` + rbacExitCodes,
		Before: g.setup,
		Flags: withGlobals(
			[]cli.Flag{
				allNamespacesFlag(&o.AllNamespaces, "every namespace: cluster-wide answers, then each namespace whose RoleBindings add to them"),
				&cli.StringFlag{Name: "name", Usage: "ask about this one object (a resourceNames rule then counts only if it names it)", EnvVars: env("name"), Destination: &o.name},
				&cli.BoolFlag{Name: "no-confirm", Usage: "do not ask the API server to confirm each answer", EnvVars: env("no-confirm"), Destination: &o.noConfirm},
				&cli.BoolFlag{Name: "no-indirect", Usage: "leave out who may reach it through Pods, role bindings or impersonation", EnvVars: env("no-indirect"), Destination: &o.noIndirect},
				&cli.BoolFlag{Name: "probe-accounts", Usage: "also ask the API server about every ServiceAccount in scope the bindings give nothing (finds webhook grants)", EnvVars: env("probe-accounts"), Destination: &o.ProbeAccounts},
				&cli.StringFlag{Name: "own-pods", Value: rbac.DefaultOwnPods, Usage: "label selector of sparkcm-hook's own Pods; other Pods holding a grant are flagged as sharing it", EnvVars: env("own-pods"), Destination: &o.OwnPods},
			},
			o.flags("table", "json"),
		),
		Action: g.action(o),
	}
}

func writeWhoCan(w io.Writer, output string, r *rbac.WhoCanResult) error {
	if output == "json" {
		r.Rows, r.Gaps, r.MissingRoles = orEmpty(r.Rows), orEmpty(r.Gaps), orEmpty(r.MissingRoles)
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	bw := bufio.NewWriter(w)
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REACH\tNAMESPACE\tREQUEST\tSUBJECT\tANSWER\tFLAGS\tCONFIRMED\tVIA")
	for _, row := range r.Rows {
		ns := row.Namespace
		if ns == "" {
			ns = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Reach, ns, row.Request, row.Subject, row.Answer, dash(flags(row)), confirmed(row), strings.Join(row.Via, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if row.Reach == rbac.ReachDirect && row.Disagreement != "" {
			fmt.Fprintf(bw, "NOTE %s %s: %s\n", row.Subject, row.Request, row.Disagreement)
		}
	}
	notes := map[string]bool{}
	for _, row := range r.Rows {
		if row.Reach != rbac.ReachDirect {
			if row.Disagreement != "" {
				fmt.Fprintf(bw, "NOTE %s %s: %s\n", row.Subject, row.Request, row.Disagreement)
			}
			k := string(row.Reach) + ": " + row.Note
			if !notes[k] {
				notes[k] = true
				fmt.Fprintf(bw, "INDIRECT %s\n", k)
			}
		}
	}
	for _, m := range r.MissingRoles {
		fmt.Fprintf(bw, "MISSING ROLE %s: the API server reports this as an evaluation error\n", m)
	}
	for _, g := range r.Gaps {
		fmt.Fprintf(bw, "GAP: %s\n", g)
	}
	if r.Unconfirmed != "" {
		fmt.Fprintf(bw, "UNCONFIRMED: %s\n", r.Unconfirmed)
	}
	fmt.Fprintf(bw, "%d row(s), %d disagreement(s) with the API server\n", len(r.Rows), r.Disagreements)
	return bw.Flush()
}

func flags(row rbac.WhoCanRow) string {
	var f []string
	if row.BypassesRBAC {
		f = append(f, "bypasses-rbac")
	}
	if row.ClusterWide {
		f = append(f, "cluster-wide")
	}
	if row.Wildcard {
		f = append(f, "wildcard")
	}
	if row.SharedPods > 0 {
		s := fmt.Sprintf("shared:%d-pods(%s", row.SharedPods, strings.Join(row.SharedSample, ","))
		if row.SharedPods > len(row.SharedSample) {
			s += ",..."
		}
		f = append(f, s+")")
	}
	return strings.Join(f, ",")
}

func confirmed(row rbac.WhoCanRow) string {
	switch {
	case row.Agrees == nil:
		return "-"
	case !*row.Agrees:
		return "DISAGREES"
	case row.Review != nil && row.Review.Incomplete() != "":
		return "yes (incomplete)"
	default:
		return "yes"
	}
}
