package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/hook/policy"
)

const policyExitCodes = `EXIT CODES:
   0  done: the manifests are on stdout
   2  invalid usage or input (nothing was printed)`

// policyOptions are policy's flags. It prints manifests and reads no
// cluster, so it has no -o, --timeout or --retry-budget.
type policyOptions struct {
	args           []string
	action         string
	defaultTTL     time.Duration
	defaultTTLSet  bool
	allNamespaces  bool
	namespaceGiven bool
	namespaces     []string
	// clusterFlags are the cluster flags given: refused, as they would be
	// ignored.
	clusterFlags []string
}

func (o *policyOptions) complete(c *cli.Context, g *globals) {
	o.args, o.namespaceGiven, o.namespaces = g.args, g.namespaceSet, g.namespaces
	o.defaultTTLSet = c.IsSet("default-ttl")
	o.clusterFlags = nil
	for _, name := range []string{"kubeconfig", "context", "qps", "burst"} {
		for _, ctx := range c.Lineage() {
			if ctx.IsSet(name) {
				o.clusterFlags = append(o.clusterFlags, name)
				break
			}
		}
	}
}

// Validate checks every flag of policy.
func (o *policyOptions) Validate() error {
	if len(o.clusterFlags) > 0 {
		return hook.Usagef("policy prints manifests and reads no cluster; --%s does not apply (pipe the output to kubectl apply)", o.clusterFlags[0])
	}
	if err := noArgs("policy", o.args); err != nil {
		return err
	}
	if err := exclusiveScope(o.namespaceGiven, o.allNamespaces); err != nil {
		return err
	}
	if !o.namespaceGiven && !o.allNamespaces {
		return hook.Usagef("policy needs the namespaces to enforce in: -n NAMESPACE[,NAMESPACE...], or -A for every namespace")
	}
	if o.defaultTTLSet && o.defaultTTL <= 0 {
		return hook.Usagef("--default-ttl must be positive, e.g. --default-ttl 24h")
	}
	if err := o.library().Validate(); err != nil {
		return hook.Usagef("%v", err)
	}
	return nil
}

func (o *policyOptions) library() policy.Options {
	return policy.Options{Action: o.action, Namespaces: o.namespaces, DefaultTTL: o.defaultTTL}
}

func policyCommand(g *globals) *cli.Command {
	o := &policyOptions{}
	return &cli.Command{
		Name:      "policy",
		Usage:     "print admission policies that warn about, audit or deny SparkApplications without a TTL",
		UsageText: "sparkcm-hook policy (-n NAMESPACE[,NAMESPACE...] | -A) [--action warn|deny|audit] [--default-ttl DURATION] | kubectl apply -f -",
		Description: `Prints a ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1, CEL run by the
API server: no webhook server) for kubectl apply. On CREATE it checks every SparkApplication in the
namespaces given (-n; -A for every namespace):
  sparkoperator.k8s.io   spec.timeToLiveSeconds is set
  spark.apache.org       resourceRetainPolicy Always or OnFailure comes with resourceRetainDurationMillis
                         or ttlAfterStopMillis >= 0 (the default policy, Never, passes)
--action warn returns a warning to the client (kubectl prints it) and admits the object; deny
rejects it (422 Invalid, the message says what to set); audit only annotates the audit log.
Updates are not checked: the operator's own writes to an older application must not be refused.

--default-ttl adds a MutatingAdmissionPolicy (admissionregistration.k8s.io/v1; the API server must
serve it: kubectl api-resources | grep mutatingadmissionpolicies) that sets
spec.timeToLiveSeconds on a Kubeflow SparkApplication created without one; it runs before the
validating policy, so such an application then passes. It reads no cluster.

` + policyExitCodes,
		Before: g.setup,
		Flags: withGlobals([]cli.Flag{
			allNamespacesFlag(&o.allNamespaces, "apply the policy in every namespace"),
			&cli.StringFlag{Name: "action", Value: "warn", Usage: "what the API server does with an application without a TTL: warn, deny or audit", EnvVars: env("policy-action"), Destination: &o.action},
			&cli.DurationFlag{Name: "default-ttl", Usage: "also set spec.timeToLiveSeconds to this (whole seconds) where it is missing, with a MutatingAdmissionPolicy", EnvVars: env("default-ttl"), Destination: &o.defaultTTL},
		}),
		Action: func(c *cli.Context) error {
			o.complete(c, g)
			if err := o.Validate(); err != nil {
				return err
			}
			y, err := policy.YAML(o.library())
			if err != nil {
				return err
			}
			_, err = c.App.Writer.Write(y)
			return err
		},
	}
}
