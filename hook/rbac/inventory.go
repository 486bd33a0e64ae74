package rbac

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// InventoryOptions choose what Inventory reads.
type InventoryOptions struct {
	// Namespace whose ServiceAccounts are listed; ignored with AllNamespaces.
	Namespace     string
	AllNamespaces bool
	// PodNames is how many Pod names, and owner names, each account keeps
	// for the output (default DefaultPodNames). Counts are always complete;
	// the cap keeps memory independent of the number of Pods.
	PodNames int
	Retry    hook.RetryPolicy
	PageSize int64
}

// Owner is a workload that runs Pods as an account: the Pod's controller,
// resolved from ReplicaSet to Deployment and from Job to CronJob.
type Owner struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Pods int    `json:"pods"`
}

// InventoryRow is one ServiceAccount and one grant (one rule reached
// through one binding path). An account with no grant has one row with the
// grant fields empty.
type InventoryRow struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	// Via is the binding path, empty for an account without grants.
	Via             string   `json:"via"`
	Subject         *Subject `json:"subject,omitempty"` // the binding subject that matched: the account or a group
	Binding         *Ref     `json:"binding,omitempty"`
	Role            *Ref     `json:"role,omitempty"`
	AggregatedFrom  string   `json:"aggregatedFrom,omitempty"`
	RoleMissing     bool     `json:"roleMissing,omitempty"`
	ClusterWide     bool     `json:"clusterWide"`
	APIGroups       []string `json:"apiGroups"`
	Resources       []string `json:"resources"`
	ResourceNames   []string `json:"resourceNames"`
	NonResourceURLs []string `json:"nonResourceURLs"`
	Verbs           []string `json:"verbs"`
	// Pods that run as the account (at most PodNames of them), how many in
	// all, and their owners. PodsUnknown is set when Pods could not be read.
	Pods        []string `json:"pods"`
	PodCount    int      `json:"podCount"`
	Owners      []Owner  `json:"owners"`
	MoreOwners  int      `json:"moreOwners,omitempty"`
	PodsUnknown bool     `json:"podsUnknown,omitempty"`
	// Unused marks an account no Pod runs as.
	Unused bool `json:"unused"`
	// Automount is the account's automountServiceAccountToken: "true",
	// "false", or "unset" (Pods mount the token unless they say otherwise).
	Automount string    `json:"automount"`
	Created   time.Time `json:"created"`
	// Gaps are the kinds that could not be read and that this row may lack.
	Gaps []string `json:"gaps,omitempty"`
}

// InventorySummary is what Inventory read.
type InventorySummary struct {
	Accounts, Unused, Rows int
	Roles, Bindings        int
	Gaps                   []Gap
}

type ownerKey struct{ kind, name string }

// account is what the inventory keeps per ServiceAccount: bounded by
// PodNames whatever the number of Pods.
type account struct {
	sa         *corev1.ServiceAccount
	pods       int
	names      []string
	owners     map[ownerKey]int
	order      []ownerKey
	moreOwners int
}

func (a *account) addPod(name string, owner ownerKey, limit int) {
	a.pods++
	if len(a.names) < limit {
		a.names = append(a.names, name)
	}
	if owner.kind == "" {
		return
	}
	if _, ok := a.owners[owner]; !ok {
		if len(a.order) >= limit {
			a.moreOwners++
			return
		}
		a.order = append(a.order, owner)
	}
	a.owners[owner]++
}

// Inventory lists every ServiceAccount in scope with each grant that
// reaches it, calling emit once per row, in namespace and account order. It
// reads each kind with one paged LIST (ClusterRoles, ClusterRoleBindings,
// Roles, RoleBindings, ServiceAccounts, Pods, and ReplicaSet and Job
// metadata to resolve owners), never one call per account. A kind the
// caller may not list becomes a Gap, named in the summary and in every row
// it may affect; when nothing at all could be read the error is a
// *NothingReadError (a forbidden error).
func Inventory(ctx context.Context, c hook.Clients, log *slog.Logger, o InventoryOptions, emit func(InventoryRow) error) (*InventorySummary, error) {
	if o.PodNames <= 0 {
		o.PodNames = DefaultPodNames
	}
	inv := &inventory{c: c, o: o, ns: o.Namespace, r: newReader(c, log, o.Retry, o.PageSize),
		accounts: map[string]*account{}, replicaSets: map[string]ownerKey{}, jobs: map[string]ownerKey{}}
	if o.AllNamespaces {
		inv.ns = ""
	}
	g, err := inv.r.loadGraph(ctx, graphScope{namespace: inv.ns, everywhere: true})
	if err != nil {
		return nil, err
	}
	saOK, err := inv.readAccounts(ctx)
	if err != nil {
		return nil, err
	}
	podsOK, err := inv.readPods(ctx)
	if err != nil {
		return nil, err
	}
	if err := inv.readOwners(ctx); err != nil {
		return nil, err
	}
	if err := inv.r.nothingRead(); err != nil {
		return nil, err
	}
	sum := &InventorySummary{Gaps: inv.r.gaps}
	sum.Roles, sum.Bindings = g.Sizes()
	if !saOK {
		// Without the accounts there are no rows to write; the summary
		// names the gap.
		return sum, nil
	}
	return sum, inv.emitRows(g, podsOK, sum, emit)
}

// inventory is what one Inventory has read: the accounts in scope with the
// Pods that run as them, and the ReplicaSets and Jobs those Pods name, each
// resolved to its own controller.
type inventory struct {
	c  hook.Clients
	o  InventoryOptions
	ns string // "" for every namespace
	r  *reader

	accounts          map[string]*account // by namespace/name
	keys              []string            // the accounts' keys, in list order
	replicaSets, jobs map[string]ownerKey // namespace/name -> its controller
}

// readAccounts lists the ServiceAccounts in scope, keeping only what a row
// shows. It reports whether they could be read.
func (inv *inventory) readAccounts(ctx context.Context) (bool, error) {
	return inv.r.list(ctx, gvrServiceAccounts, inv.ns, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return inv.c.Kube.CoreV1().ServiceAccounts(inv.ns).List(ctx, opts)
	}, func(obj runtime.Object) {
		sa := obj.(*corev1.ServiceAccount)
		k := sa.Namespace + "/" + sa.Name
		inv.accounts[k] = &account{owners: map[ownerKey]int{}, sa: &corev1.ServiceAccount{
			ObjectMeta:                   metav1.ObjectMeta{Name: sa.Name, Namespace: sa.Namespace, CreationTimestamp: sa.CreationTimestamp},
			AutomountServiceAccountToken: sa.AutomountServiceAccountToken,
		}}
		inv.keys = append(inv.keys, k)
	}, func() { clear(inv.accounts); inv.keys = inv.keys[:0] })
}

// readPods counts the Pods of each account. Only the account, name and
// controller of each are kept, and only up to PodNames names per account;
// the ReplicaSets and Jobs they name are noted for readOwners. It reports
// whether the Pods could be read.
func (inv *inventory) readPods(ctx context.Context) (bool, error) {
	return inv.r.list(ctx, gvrPods, inv.ns, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return inv.c.Kube.CoreV1().Pods(inv.ns).List(ctx, opts)
	}, func(obj runtime.Object) {
		p := obj.(*corev1.Pod)
		sa := p.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		a := inv.accounts[p.Namespace+"/"+sa]
		if a == nil {
			return
		}
		owner := controllerOf(p.OwnerReferences)
		switch owner.kind {
		case "ReplicaSet":
			inv.replicaSets[p.Namespace+"/"+owner.name] = ownerKey{}
		case "Job":
			inv.jobs[p.Namespace+"/"+owner.name] = ownerKey{}
		}
		if owner.kind != "" {
			owner.name = p.Namespace + "/" + owner.name
		}
		a.addPod(p.Name, owner, inv.o.PodNames)
	}, func() {
		for _, a := range inv.accounts {
			a.pods, a.names, a.order, a.moreOwners = 0, nil, nil, 0
			clear(a.owners)
		}
		clear(inv.replicaSets)
		clear(inv.jobs)
	})
}

// readOwners resolves ReplicaSet -> Deployment and Job -> CronJob, from
// metadata only, keeping just the ones Pods named.
func (inv *inventory) readOwners(ctx context.Context) error {
	for _, x := range []struct {
		gvr  schema.GroupVersionResource
		want map[string]ownerKey
	}{{gvrReplicaSets, inv.replicaSets}, {gvrJobs, inv.jobs}} {
		if len(x.want) == 0 {
			continue
		}
		res := inv.c.Metadata.Resource(x.gvr).Namespace(inv.ns)
		if _, err := inv.r.list(ctx, x.gvr, inv.ns, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return res.List(ctx, opts)
		}, func(obj runtime.Object) {
			m := obj.(*metav1.PartialObjectMetadata)
			k := m.Namespace + "/" + m.Name
			if _, ok := x.want[k]; ok {
				x.want[k] = controllerOf(m.OwnerReferences)
			}
		}, func() {
			for k := range x.want {
				x.want[k] = ownerKey{}
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// emitRows writes one row per account and grant, in namespace and account
// order (one row with no grant for an account that has none), counting
// them in sum. Each row names the gaps that may affect it.
func (inv *inventory) emitRows(g *Graph, podsOK bool, sum *InventorySummary, emit func(InventoryRow) error) error {
	grantGaps := inv.gapText("clusterroles", "clusterrolebindings", "roles", "rolebindings")
	podGaps := inv.gapText("pods", "replicasets", "jobs")
	sort.Strings(inv.keys)
	for _, k := range inv.keys {
		a := inv.accounts[k]
		base := InventoryRow{
			Namespace: a.sa.Namespace, ServiceAccount: a.sa.Name,
			Pods: nonNil(a.names), PodCount: a.pods, PodsUnknown: !podsOK, Unused: podsOK && a.pods == 0,
			Automount: automount(a.sa.AutomountServiceAccountToken), Created: a.sa.CreationTimestamp.UTC(),
			Owners: nonNil(resolveOwners(a, inv.replicaSets, inv.jobs)), MoreOwners: a.moreOwners,
			Gaps: append(append([]string(nil), grantGaps...), podGaps...),
		}
		if base.Unused {
			sum.Unused++
		}
		sum.Accounts++
		grants := g.GrantsOf(ServiceAccountIdentity(a.sa.Namespace, a.sa.Name))
		if len(grants) == 0 {
			sum.Rows++
			if err := emit(base); err != nil {
				return err
			}
			continue
		}
		for _, gr := range grants {
			row := base
			row.Via = gr.Via()
			row.Subject, row.Binding, row.Role = &gr.Subject, &gr.Binding, &gr.Role
			row.AggregatedFrom, row.RoleMissing, row.ClusterWide = gr.AggregatedFrom, gr.RoleMissing, gr.ClusterWide()
			row.APIGroups, row.Resources, row.ResourceNames = gr.Rule.APIGroups, gr.Rule.Resources, gr.Rule.ResourceNames
			row.NonResourceURLs, row.Verbs = gr.Rule.NonResourceURLs, gr.Rule.Verbs
			sum.Rows++
			if err := emit(row); err != nil {
				return err
			}
		}
	}
	return nil
}

// gapText names the gaps in reading any of the resources.
func (inv *inventory) gapText(resources ...string) []string {
	var out []string
	for _, gp := range inv.r.gaps {
		if slices.Contains(resources, gp.Resource) {
			out = append(out, gp.String())
		}
	}
	return out
}

// controllerOf is the controlling owner, else the first owner.
func controllerOf(refs []metav1.OwnerReference) ownerKey {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return ownerKey{r.Kind, r.Name}
		}
	}
	if len(refs) > 0 {
		return ownerKey{refs[0].Kind, refs[0].Name}
	}
	return ownerKey{}
}

// resolveOwners turns an account's direct Pod owners into workloads:
// ReplicaSet -> Deployment and Job -> CronJob where their own owner says
// so, merging the counts.
func resolveOwners(a *account, replicaSets, jobs map[string]ownerKey) []Owner {
	var out []Owner
	index := map[ownerKey]int{}
	for _, k := range a.order {
		top := k
		switch k.kind {
		case "ReplicaSet":
			if o := replicaSets[k.name]; o.kind != "" {
				top = ownerKey{o.kind, namespaceOf(k.name) + "/" + o.name}
			}
		case "Job":
			if o := jobs[k.name]; o.kind != "" {
				top = ownerKey{o.kind, namespaceOf(k.name) + "/" + o.name}
			}
		}
		if i, ok := index[top]; ok {
			out[i].Pods += a.owners[k]
			continue
		}
		index[top] = len(out)
		_, name, _ := strings.Cut(top.name, "/")
		out = append(out, Owner{Kind: top.kind, Name: name, Pods: a.owners[k]})
	}
	return out
}

func namespaceOf(key string) string {
	ns, _, _ := strings.Cut(key, "/")
	return ns
}

func automount(b *bool) string {
	switch {
	case b == nil:
		return "unset"
	case *b:
		return "true"
	default:
		return "false"
	}
}

// String is an owner as the table shows it.
func (o Owner) String() string { return fmt.Sprintf("%s %s (%d)", o.Kind, o.Name, o.Pods) }

// nonNil keeps JSON lists lists ([] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
