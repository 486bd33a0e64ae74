package hook

import (
	"context"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// Commands whose API access Permissions lists.
const (
	CommandCleanup = "cleanup"
	CommandSweep   = "sweep"
	CommandWatch   = "watch"
	// CommandReport reads what sweep reads, and deletes nothing.
	CommandReport = "report"
	// CommandCheck is check --live: it lists SparkApplications, nothing else.
	CommandCheck = "check"
	// CommandController runs cleanup and sweep, and watches what they read
	// (ControllerPermissions).
	CommandController = "controller"
	// CommandAll stands for every command: the access the chart grants.
	CommandAll = "all"
)

// Commands returns the commands that act on a cluster, in the order the
// README lists them; a fresh slice each call, so no caller changes another's.
func Commands() []string {
	return []string{CommandCleanup, CommandSweep, CommandWatch, CommandReport, CommandCheck, CommandController}
}

// Access is one verb on one resource that a command sends.
type Access struct {
	Group    string `json:"group"`
	Resource string `json:"resource"`
	Verb     string `json:"verb"`
	// Commands are the commands that send it.
	Commands []string `json:"commands"`
	// Optional access is used when granted and tolerated when refused
	// (reading the Namespace only to say "not found" clearly). The chart's
	// Role does not hold it.
	Optional bool `json:"optional"`
	// WhenServed access is required only where the API server serves its
	// group (the Apache operator's CRD is installed): preflight asks for it
	// only then, and the chart's Role grants it behind a value.
	WhenServed bool   `json:"whenServed,omitempty"`
	Why        string `json:"why"`
}

// Permissions returns the one list of the API access the commands need:
// the README's RBAC table, the Helm chart's Role and `rbac preflight` are
// checked against it (deploy/helm and hook/rbac tests). A change in what the
// library calls starts here. The list is built afresh each call, so no
// caller can change what another is told.
func Permissions() []Access {
	// Each entry gets its own slice of commands.
	deleting := func() []string { return []string{CommandCleanup, CommandSweep, CommandWatch, CommandController} }
	targeted := func() []string { return []string{CommandCleanup, CommandWatch, CommandController} }
	// reading are the commands that send sweep's reads: report reads
	// exactly what sweep reads, and deletes nothing.
	reading := func() []string {
		return []string{CommandCleanup, CommandSweep, CommandWatch, CommandReport, CommandController}
	}
	// stamping are the commands that record when a client-mode
	// application's executors were last seen running.
	stamping := func() []string { return []string{CommandSweep, CommandController} }
	// listingApps are the commands that list SparkApplications: the
	// readers, and check --live, which lists them to lint them.
	listingApps := func() []string { return append(reading(), CommandCheck) }
	return []Access{
		{Group: "", Resource: "configmaps", Verb: "get", Commands: targeted(), Why: "read a map named in a driver Pod's volumes"},
		{Group: "", Resource: "configmaps", Verb: "list", Commands: reading(), Why: "list maps as metadata, by label and page by page"},
		{Group: "", Resource: "configmaps", Verb: "patch", Commands: stamping(), Why: "stamp sparkcm-hook/last-active on a client-mode application's executor map while its executors run (UID and resourceVersion preconditions)"},
		{Group: "", Resource: "configmaps", Verb: "delete", Commands: deleting(), Why: "delete a leftover map with UID and resourceVersion preconditions"},
		{Group: "", Resource: "pods", Verb: "get", Commands: targeted(), Why: "read the driver Pod"},
		{Group: "", Resource: "pods", Verb: "list", Commands: reading(), Why: "find drivers and the Pods that use maps"},
		{Group: "", Resource: "pods", Verb: "watch", Commands: targeted(), Why: "wait for the driver to end (cleanup when told to wait, watch); the controller follows Spark's Pods"},
		{Group: "sparkoperator.k8s.io", Resource: "sparkapplications", Verb: "get", Commands: reading(), Why: "read the application's state and user-supplied maps; sweep reads it again just before deleting its maps"},
		{Group: "sparkoperator.k8s.io", Resource: "sparkapplications", Verb: "list", Commands: listingApps(), Why: "find applications by id; sweep reads them all; check --live lints them"},
		{Group: "sparkoperator.k8s.io", Resource: "sparkapplications", Verb: "watch", Commands: reading(), Why: "wait for the application to end (cleanup when told to wait, watch); sweep follows the applications it judged until their maps are deleted (without it, it reads each again)"},
		{Group: ApacheSparkGroup, Resource: "sparkapplications", Verb: "get", Commands: reading(), WhenServed: true, Why: "read an Apache operator application's state, attempt and retain settings; read it again just before deleting its maps"},
		{Group: ApacheSparkGroup, Resource: "sparkapplications", Verb: "list", Commands: listingApps(), WhenServed: true, Why: "find Apache operator applications by name or id; sweep reads them all; check --live lints them"},
		{Group: ApacheSparkGroup, Resource: "sparkapplications", Verb: "watch", Commands: targeted(), WhenServed: true, Why: "wait for an Apache operator application to end (cleanup when told to wait, watch); the controller follows Apache operator applications"},
		{Group: "", Resource: "events", Verb: "create", Commands: deleting(), Why: "record the summary Event"},
		{Group: "", Resource: "namespaces", Verb: "get", Commands: listingApps(), Optional: true, Why: "say \"namespace not found\" clearly; a 403 is ignored"},
	}
}

// ControllerPermissions is the access only the controller needs beyond
// Permissions: its replicas elect a leader through a Lease. (It watches
// Pods and SparkApplications, which Permissions grants; it caches no maps,
// so it needs no watch on them.) The chart's default Role, for the
// commands a CronJob or a cleanup task runs, does not hold it; its
// controller mode adds the Lease verbs in a Role of their own in the
// release namespace (deploy/helm tests hold it to
// PermissionsFor(CommandController)). Built afresh each call.
func ControllerPermissions() []Access {
	watching := func() []string { return []string{CommandController} }
	return []Access{
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "get", Commands: watching(), Why: "controller --leader-elect: read the leader Lease"},
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "create", Commands: watching(), Why: "controller --leader-elect: create the leader Lease"},
		{Group: "coordination.k8s.io", Resource: "leases", Verb: "update", Commands: watching(), Why: "controller --leader-elect: take, renew and release the leader Lease (resourceVersion preconditions)"},
	}
}

// PermissionsFor returns the access one command (or CommandAll) needs, in
// table order; nil for an unknown command. CommandAll is what the chart
// grants in its default (CronJob) mode: Permissions, without the
// controller's own.
func PermissionsFor(command string) []Access {
	if command == CommandAll {
		return Permissions()
	}
	var out []Access
	for _, a := range slices.Concat(Permissions(), ControllerPermissions()) {
		if slices.Contains(a.Commands, command) {
			out = append(out, a)
		}
	}
	return out
}

// RoleRules are the rules of the chart's Role: every access that is not
// optional, one rule per resource, verbs in table order. The access needed
// only where a group is served is not among them: see WhenServedRules.
func RoleRules() []rbacv1.PolicyRule {
	return RulesFor(func(a Access) bool { return !a.Optional && !a.WhenServed }, Permissions())
}

// WhenServedRules are the rules the chart's Role adds when told that the
// Apache operator's CRD is installed (apacheOperator.enabled).
func WhenServedRules() []rbacv1.PolicyRule {
	return RulesFor(func(a Access) bool { return a.WhenServed }, Permissions())
}

// GroupServed says whether the API server serves an API group (its CRD is
// installed), asking discovery within ctx (a silent API server must not
// outlast --timeout).
func GroupServed(ctx context.Context, d kube.DiscoveryInterface, group string) (bool, error) {
	list, err := kube.Groups(ctx, d)
	if err != nil {
		return false, err
	}
	for _, g := range list.Groups {
		if g.Name == group {
			return true, nil
		}
	}
	return false, nil
}

// RulesFor groups the accesses keep accepts into one rule per API group and
// resource, in the order they first appear.
func RulesFor(keep func(Access) bool, access []Access) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	index := map[[2]string]int{}
	for _, a := range access {
		if !keep(a) {
			continue
		}
		k := [2]string{a.Group, a.Resource}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, rbacv1.PolicyRule{APIGroups: []string{a.Group}, Resources: []string{a.Resource}})
		}
		if !slices.Contains(out[i].Verbs, a.Verb) {
			out[i].Verbs = append(out[i].Verbs, a.Verb)
		}
	}
	return out
}
