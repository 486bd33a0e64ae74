package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// adoptOptions are adopt's flags: the common ones and the library's.
type adoptOptions struct {
	common
	hook.AdoptOptions
	namespaceGiven bool
}

func (o *adoptOptions) complete(_ *cli.Context, g *globals) {
	o.namespaceGiven = g.namespaceSet
	o.Retry = o.retry()
}

// Validate checks every flag of adopt without reading any configuration.
func (o *adoptOptions) Validate() error {
	if err := o.validate("adopt"); err != nil {
		return err
	}
	return exclusiveScope(o.namespaceGiven, o.AllNamespaces)
}

func (o *adoptOptions) run(ctx context.Context, g *globals, clients hook.Clients, ns string, stdout io.Writer) error {
	if !o.AllNamespaces {
		if err := g.checkNamespace(ctx, clients, ns); err != nil {
			return err
		}
		o.Namespace = ns
	}
	res, err := hook.Adopt(ctx, clients, g.log, o.AdoptOptions)
	if res != nil {
		if werr := writeAdoptions(stdout, o.output, res); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

func adoptCommand(g *globals) *cli.Command {
	o := &adoptOptions{}
	return &cli.Command{
		Name:      "adopt",
		Usage:     "make each user-supplied ConfigMap owned by the SparkApplications that reference it, so it goes with the last of them",
		UsageText: g.prog + " adopt [-n NAMESPACE | -A] [--apply] [-o text|json] [--timeout DURATION]",
		Description: `A ConfigMap a SparkApplication supplies (spec.sparkConfigMap, spec.hadoopConfigMap,
spec.driver/executor.configMaps, a ConfigMap volume in spec.volumes) is the user's: cleanup and
sweep never delete it, and it stays when its applications are gone. adopt gives it an
ownerReference (controller=false, blockOwnerDeletion=false) to every SparkApplication that
references it, so that the garbage collector removes it with the last of them.

Dry run by default: it prints what it would write; --apply writes. Each write is a merge patch
carrying the map's UID and resourceVersion: a map changed since it was read is left alone (failed:
run again). Running it again writes nothing more.

Skipped, with the reason: a map marked sparkcm-hook/keep: "true", one with an owner that is not a
SparkApplication, one a tool manages (app.kubernetes.io/managed-by), one used by a Pod that belongs
to no application referencing it, one that does not exist.

An application created after a run is not an owner of a map adopted before it: run adopt again
(on a schedule, say) before the last of the old owners is deleted.

Prints one line per map (adopted, would adopt, already adopted, skipped: why, failed: why) and a
summary on stdout; -o json prints every map with its decision, owners and reason.

EXIT CODES:
   0  done (also when maps were skipped)
   1  some maps could not be written, or the run failed after retries
   2  invalid usage or input (nothing was changed)
   3  refused: the API server refused a verb (RBAC) or the credentials`,
		Before: g.setup,
		Flags: withGlobals([]cli.Flag{
			allNamespacesFlag(&o.AllNamespaces, "adopt in every namespace"),
			&cli.BoolFlag{Name: "apply", Usage: "write the ownerReferences (default: only say what would be written)", EnvVars: env("apply"), Destination: &o.Apply},
		}, o.flags("text", "json")),
		Action: g.action(o),
	}
}

// writeAdoptions prints one line per map and the summary, or with -o json
// the whole result.
func writeAdoptions(w io.Writer, output string, res *hook.AdoptResult) error {
	if output == "json" {
		res.Maps = orEmpty(res.Maps)
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	bw := bufio.NewWriter(w)
	for _, m := range res.Maps {
		line := fmt.Sprintf("%s/%s: %s", m.Namespace, m.Name, m.Decision)
		switch m.Decision {
		case hook.AdoptSkipped, hook.AdoptFailed:
			line += ": " + m.Reason
		default:
			line += " (owners: " + strings.Join(m.Owners, ", ") + ")"
		}
		fmt.Fprintln(bw, line)
	}
	fmt.Fprintf(bw, "%d adopted, %d would adopt, %d already adopted, %d skipped, %d failed",
		res.Count(hook.Adopted), res.Count(hook.WouldAdopt), res.Count(hook.AlreadyAdopted), res.Count(hook.AdoptSkipped), res.Count(hook.AdoptFailed))
	if !res.Apply {
		fmt.Fprint(bw, " (dry run: --apply writes)")
	}
	fmt.Fprintln(bw)
	return bw.Flush()
}
