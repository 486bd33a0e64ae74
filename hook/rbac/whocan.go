package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// WhoCanOptions is one who-can question.
type WhoCanOptions struct {
	// Request is what is asked; its Namespace is the namespace asked about
	// (ignored with AllNamespaces or ClusterScoped) and Name, when set, asks
	// about that one object.
	Request       Request
	AllNamespaces bool
	// ClusterScoped resources are asked about cluster-wide only.
	ClusterScoped bool
	// Confirm asks the API server (a SubjectAccessReview) for every answer.
	Confirm bool
	// ProbeAccounts also asks the API server about every ServiceAccount in
	// scope that the bindings give nothing, to find what another
	// authorizer (a webhook) allows.
	ProbeAccounts bool
	// Indirect also lists who may reach the request through a Pod, a role
	// binding or impersonation.
	Indirect bool
	// OwnPods is a label selector for sparkcm-hook's own Pods (default
	// DefaultOwnPods).
	OwnPods     string
	Concurrency int
	Retry       hook.RetryPolicy
	PageSize    int64

	// beforeConfirm runs after the graph is read and before the API server
	// is asked: tests change a binding there to make the two disagree the
	// way a change between reading and asking does.
	beforeConfirm func()
}

// DisagreementError says the API server's SubjectAccessReviews answered
// otherwise than the roles and bindings for some rows: another authorizer
// (a webhook, the Node authorizer) decides too, or a binding changed while
// the answers were checked. The rows marked so say which and why; the
// result is complete, but an audit that relies on it must not pass.
type DisagreementError struct {
	Request       Request
	Disagreements int
}

func (e *DisagreementError) Error() string {
	return fmt.Sprintf("the API server disagrees with the roles and bindings on %d row(s) for %s: another authorizer decides too, or a binding changed meanwhile (see the rows marked DISAGREES)", e.Disagreements, e.Request)
}

// Reach says how a row's subject gets to the request.
type Reach string

// How a subject reaches the request.
const (
	ReachDirect      Reach = "direct"
	ReachCreatePods  Reach = "creates pods"
	ReachBind        Reach = "binds or escalates roles"
	ReachImpersonate Reach = "impersonates"
)

var reachOrder = map[Reach]int{ReachDirect: 0, ReachCreatePods: 1, ReachBind: 2, ReachImpersonate: 3}

// WhoCanRow is one subject's answer in one namespace.
type WhoCanRow struct {
	Subject Subject `json:"subject"`
	// Namespace where the answer holds; "" for every namespace (through
	// ClusterRoleBindings) or a cluster-scoped request.
	Namespace string `json:"namespace"`
	Reach     Reach  `json:"reach"`
	// Request is what Answer is about: the question itself for direct rows,
	// the create, bind, escalate or impersonate request for indirect ones.
	Request Request  `json:"request"`
	Answer  Answer   `json:"answer"`
	Via     []string `json:"via"`
	// Flags.
	ClusterWide  bool `json:"clusterWide"`
	Wildcard     bool `json:"wildcard"`
	BypassesRBAC bool `json:"bypassesRBAC,omitempty"`
	// SharedPods counts the Pods other than sparkcm-hook's own that run
	// with this grant (as the account, or as a member of the group).
	SharedPods   int      `json:"sharedPods"`
	SharedSample []string `json:"sharedSample,omitempty"`
	// Note explains an indirect row: which accounts make it a path.
	Note string `json:"note,omitempty"`
	// Review is the API server's answer; Agrees compares it with Answer.
	Review       *Review `json:"review,omitempty"`
	Agrees       *bool   `json:"agrees,omitempty"`
	Disagreement string  `json:"disagreement,omitempty"`
}

// WhoCanResult is every row, and what could not be read or asked.
type WhoCanResult struct {
	Request Request     `json:"request"`
	All     bool        `json:"allNamespaces"`
	Rows    []WhoCanRow `json:"rows"`
	Gaps    []Gap       `json:"gaps"`
	// MissingRoles are bindings whose role does not exist: the API server
	// reports them as evaluation errors.
	MissingRoles []string `json:"missingRoles,omitempty"`
	// Unconfirmed says why answers were not confirmed, when they were not.
	Unconfirmed string `json:"unconfirmed,omitempty"`
	// Disagreements counts rows where the API server answered otherwise.
	Disagreements int `json:"disagreements"`
}

// MarshalJSON writes a Scope as its words.
func (s Scope) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalJSON writes the answer as {"scope": ..., "names": [...]}.
func (a Answer) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Scope Scope    `json:"scope"`
		Names []string `json:"names,omitempty"`
	}{a.Scope, a.Names})
}

// podIndex counts, per account and per namespace, the Pods that are not
// sparkcm-hook's own, keeping a few names for the output.
type podIndex struct {
	bySA, byNS map[string]*podCount
	all        podCount
}

type podCount struct {
	n      int
	sample []string
}

const sharedSample = 3

func (c *podCount) add(name string) {
	c.n++
	if len(c.sample) < sharedSample {
		c.sample = append(c.sample, name)
	}
}

type whoCan struct {
	g        *Graph
	o        WhoCanOptions
	accounts map[string][]string // namespace -> sorted account names
	nss      []string            // namespaces, sorted
	pods     podIndex
	podsOK   bool
	missing  map[string]bool
}

// WhoCan answers who may send o.Request, from the binding graph: every
// ServiceAccount, user and group, with a three-valued answer, the binding
// paths, and flags for cluster-wide, wildcard and shared grants; with
// o.Confirm each answer is checked by a SubjectAccessReview and any
// disagreement shown. It reads each kind with one paged LIST.
func WhoCan(ctx context.Context, c hook.Clients, log *slog.Logger, o WhoCanOptions) (*WhoCanResult, error) {
	if o.OwnPods == "" {
		o.OwnPods = DefaultOwnPods
	}
	own, err := labels.Parse(o.OwnPods)
	if err != nil {
		return nil, hook.Usagef("own Pods selector %q: %v", o.OwnPods, err)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	ns := o.Request.Namespace
	if o.AllNamespaces || o.ClusterScoped {
		ns = ""
	}
	r := newReader(c, log, o.Retry, o.PageSize)
	g, err := r.loadGraph(ctx, graphScope{namespace: ns, everywhere: true})
	if err != nil {
		return nil, err
	}
	w := &whoCan{g: g, o: o, accounts: map[string][]string{}, missing: map[string]bool{},
		pods: podIndex{bySA: map[string]*podCount{}, byNS: map[string]*podCount{}}}
	if _, err := r.list(ctx, gvrServiceAccounts, ns, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return c.Metadata.Resource(gvrServiceAccounts).Namespace(ns).List(ctx, opts)
	}, func(obj runtime.Object) {
		m := obj.(*metav1.PartialObjectMetadata)
		w.accounts[m.Namespace] = append(w.accounts[m.Namespace], m.Name)
	}, func() { clear(w.accounts) }); err != nil {
		return nil, err
	}
	if w.podsOK, err = r.list(ctx, gvrPods, ns, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return c.Kube.CoreV1().Pods(ns).List(ctx, opts)
	}, func(obj runtime.Object) {
		p := obj.(*corev1.Pod)
		if own.Matches(labels.Set(p.Labels)) {
			return
		}
		sa := p.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		name := p.Namespace + "/" + p.Name
		for _, k := range []struct {
			m   map[string]*podCount
			key string
		}{{w.pods.bySA, p.Namespace + "/" + sa}, {w.pods.byNS, p.Namespace}} {
			if k.m[k.key] == nil {
				k.m[k.key] = &podCount{}
			}
			k.m[k.key].add(name)
		}
		w.pods.all.add(name)
	}, func() { clear(w.pods.bySA); clear(w.pods.byNS); w.pods.all = podCount{} }); err != nil {
		return nil, err
	}
	if ns == "" {
		if _, err := r.list(ctx, gvrNamespaces, "", func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return c.Metadata.Resource(gvrNamespaces).List(ctx, opts)
		}, func(obj runtime.Object) {
			w.nss = append(w.nss, obj.(*metav1.PartialObjectMetadata).Name)
		}, func() { w.nss = nil }); err != nil {
			return nil, err
		}
	}
	if err := r.nothingRead(); err != nil {
		return nil, err
	}
	// Namespaces known from accounts and RoleBindings count too, in case
	// namespaces could not be listed.
	seen := map[string]bool{}
	for _, n := range w.nss {
		seen[n] = true
	}
	for n := range w.accounts {
		if !seen[n] {
			seen[n], w.nss = true, append(w.nss, n)
		}
	}
	for n := range g.nsBound {
		if !seen[n] {
			seen[n], w.nss = true, append(w.nss, n)
		}
	}
	sort.Strings(w.nss)
	for _, names := range w.accounts {
		sort.Strings(names)
	}

	req := o.Request
	req.Namespace = ns
	res := &WhoCanResult{Request: req, All: o.AllNamespaces, Gaps: r.gaps}
	res.Rows = w.evaluate(req, o.ClusterScoped, ReachDirect)
	if o.Indirect {
		res.Rows = append(res.Rows, w.indirect(res.Rows)...)
	}
	sortRows(res.Rows)
	for k := range w.missing {
		res.MissingRoles = append(res.MissingRoles, k)
	}
	sort.Strings(res.MissingRoles)
	if o.Confirm {
		if o.beforeConfirm != nil {
			o.beforeConfirm()
		}
		if err := w.confirm(ctx, c, log, res); err != nil {
			return res, err
		}
		if res.Disagreements > 0 {
			return res, &DisagreementError{Request: req, Disagreements: res.Disagreements}
		}
	}
	return res, nil
}

// evaluate answers req for every subject: cluster-wide when clusterOnly or
// req has no namespace (then, unless clusterOnly, also each namespace where
// RoleBindings add to the cluster-wide answer), else in req's namespace.
func (w *whoCan) evaluate(req Request, clusterOnly bool, reach Reach) []WhoCanRow {
	if req.Namespace != "" && !clusterOnly {
		ka, missing := w.g.answersIn(req, true, true)
		w.noteMissing(missing)
		return w.rowsFor(ka, nil, req, reach)
	}
	cl := req
	cl.Namespace = ""
	ka, missing := w.g.answersIn(cl, true, false)
	w.noteMissing(missing)
	rows := w.rowsFor(ka, nil, cl, reach)
	if clusterOnly {
		return rows
	}
	for _, n := range w.nss {
		if len(w.g.nsBound[n]) == 0 {
			continue
		}
		nr := req
		nr.Namespace = n
		nka, missing := w.g.answersIn(nr, false, true)
		w.noteMissing(missing)
		if len(nka) == 0 {
			continue
		}
		rows = append(rows, w.rowsFor(nka, ka, nr, reach)...)
	}
	return rows
}

func (w *whoCan) noteMissing(gs []Grant) {
	for _, g := range gs {
		w.missing[g.Binding.String()+" -> "+g.Role.String()] = true
	}
}

// rowsFor turns one scope's per-subject answers into rows. With cluster
// set (the cluster-wide answers), a namespace row is written only where the
// namespace's RoleBindings add to what the subject has everywhere.
func (w *whoCan) rowsFor(ka, cluster keyAnswers, req Request, reach Reach) []WhoCanRow {
	subjects := map[Subject]bool{{Kind: rbacv1.GroupKind, Name: GroupMasters}: true}
	for _, x := range ka {
		if x.answer.Scope == No {
			continue
		}
		subjects[x.subject] = true
		if x.subject.Kind != rbacv1.GroupKind {
			continue
		}
		// The implicit groups' members: ServiceAccounts in scope.
		switch name := x.subject.Name; {
		case name == GroupServiceAccounts || name == GroupAuthenticated:
			for n, names := range w.accounts {
				for _, a := range names {
					subjects[Subject{Kind: rbacv1.ServiceAccountKind, Namespace: n, Name: a}] = true
				}
			}
		case strings.HasPrefix(name, GroupServiceAccounts+":"):
			n := strings.TrimPrefix(name, GroupServiceAccounts+":")
			for _, a := range w.accounts[n] {
				subjects[Subject{Kind: rbacv1.ServiceAccountKind, Namespace: n, Name: a}] = true
			}
		}
	}
	var rows []WhoCanRow
	for s := range subjects {
		id := s.Identity()
		a, grants := ka.combine(id)
		if cluster != nil {
			ca, cgrants := cluster.combine(id)
			merged := union(a, ca)
			if merged.equal(ca) {
				continue // the cluster-wide row says it all
			}
			a, grants = merged, append(grants, cgrants...)
		}
		if a.Scope == No || (req.Name != "" && !a.Allows(req.Name)) {
			continue
		}
		row := WhoCanRow{Subject: s, Namespace: req.Namespace, Reach: reach, Request: req, Answer: a, BypassesRBAC: id.IsMaster()}
		via := map[string]bool{}
		for _, gr := range grants {
			via[gr.Via()] = true
			row.ClusterWide = row.ClusterWide || gr.ClusterWide()
			row.Wildcard = row.Wildcard || hasWildcard(*gr.rule)
		}
		if row.BypassesRBAC {
			via["Group system:masters: the API server allows its members everything, RBAC or not"] = true
		}
		for v := range via {
			row.Via = append(row.Via, v)
		}
		sort.Strings(row.Via)
		if pc := w.shared(s); pc != nil {
			row.SharedPods, row.SharedSample = pc.n, pc.sample
		}
		rows = append(rows, row)
	}
	return rows
}

// shared is the count of Pods other than sparkcm-hook's own that hold the
// subject's grants: the account's own Pods, or every Pod whose account is
// in the group.
func (w *whoCan) shared(s Subject) *podCount {
	switch {
	case s.Kind == rbacv1.ServiceAccountKind:
		return w.pods.bySA[s.Namespace+"/"+s.Name]
	case s.Kind == rbacv1.GroupKind && (s.Name == GroupServiceAccounts || s.Name == GroupAuthenticated):
		return &w.pods.all
	case s.Kind == rbacv1.GroupKind && strings.HasPrefix(s.Name, GroupServiceAccounts+":"):
		return w.pods.byNS[strings.TrimPrefix(s.Name, GroupServiceAccounts+":")]
	}
	return nil
}

func union(a, b Answer) Answer {
	if a.Scope == AllNames || b.Scope == AllNames {
		return Answer{Scope: AllNames}
	}
	out := Answer{Scope: max(a.Scope, b.Scope)}
	for _, n := range append(slices.Clone(a.Names), b.Names...) {
		if i, found := slices.BinarySearch(out.Names, n); !found {
			out.Names = slices.Insert(out.Names, i, n)
		}
	}
	return out
}

func (a Answer) equal(b Answer) bool { return a.Scope == b.Scope && slices.Equal(a.Names, b.Names) }

// workloads are what makes Pods in a namespace, each able to run them as
// any ServiceAccount there.
var workloads = []Request{
	{Verb: "create", Resource: "pods"},
	{Verb: "create", Group: "apps", Resource: "deployments"},
	{Verb: "create", Group: "apps", Resource: "replicasets"},
	{Verb: "create", Group: "apps", Resource: "statefulsets"},
	{Verb: "create", Group: "apps", Resource: "daemonsets"},
	{Verb: "create", Group: "batch", Resource: "jobs"},
	{Verb: "create", Group: "batch", Resource: "cronjobs"},
	{Verb: "create", Resource: "replicationcontrollers"},
}

// indirect lists who may reach the request without being allowed it: by
// creating Pods (or workloads) in a namespace with an account that can, by
// binding or escalating roles, or by impersonation. Subjects that can do it
// directly everywhere asked are left out, and so is system:masters.
func (w *whoCan) indirect(direct []WhoCanRow) []WhoCanRow {
	already := map[Subject]bool{}
	able := map[string][]string{} // namespace -> accounts that can
	for _, r := range direct {
		if r.Answer.Scope == AllNames {
			already[r.Subject] = true
		}
		if r.Subject.Kind == rbacv1.ServiceAccountKind {
			able[r.Subject.Namespace] = append(able[r.Subject.Namespace], r.Subject.Name)
		}
	}
	keep := func(rows []WhoCanRow, note string) []WhoCanRow {
		var out []WhoCanRow
		for _, r := range rows {
			if already[r.Subject] || r.BypassesRBAC || !r.Answer.Allows(r.Request.Name) {
				continue
			}
			r.Note = note
			out = append(out, r)
		}
		return out
	}
	var out []WhoCanRow
	var nss []string
	for n := range able {
		nss = append(nss, n)
	}
	sort.Strings(nss)
	for _, n := range nss {
		accts := slices.Compact(slices.Sorted(slices.Values(able[n])))
		note := fmt.Sprintf("may run Pods in %s as %s, which can %s", n, listNames(n, accts), w.o.Request)
		for _, wl := range workloads {
			wl.Namespace = n
			// A Pod in n can run as any account of n: who may create one
			// there, through ClusterRoleBindings or n's RoleBindings.
			ka, missing := w.g.answersIn(wl, true, true)
			w.noteMissing(missing)
			out = append(out, keep(w.rowsFor(ka, nil, wl, ReachCreatePods), note)...)
		}
	}
	ns := w.o.Request.Namespace
	if w.o.AllNamespaces || w.o.ClusterScoped {
		ns = ""
	}
	for _, b := range []Request{
		{Verb: "bind", Group: rbacv1.GroupName, Resource: "clusterroles"},
		{Verb: "bind", Group: rbacv1.GroupName, Resource: "roles"},
		{Verb: "escalate", Group: rbacv1.GroupName, Resource: "clusterroles"},
		{Verb: "escalate", Group: rbacv1.GroupName, Resource: "roles"},
	} {
		b.Namespace = ns
		out = append(out, keep(w.evaluate(b, false, ReachBind), "may grant itself (or anyone) a role that can "+w.o.Request.String())...)
	}
	for _, im := range []struct {
		req     Request
		cluster bool
	}{
		{Request{Verb: "impersonate", Resource: "users"}, true},
		{Request{Verb: "impersonate", Resource: "groups"}, true},
		{Request{Verb: "impersonate", Resource: "serviceaccounts"}, false},
	} {
		im.req.Namespace = ns
		out = append(out, keep(w.evaluate(im.req, im.cluster, ReachImpersonate), "may act as the "+im.req.Resource+" it may impersonate")...)
	}
	return out
}

func listNames(ns string, names []string) string {
	const most = 3
	parts := make([]string, 0, most)
	for i, n := range names {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-most))
			break
		}
		parts = append(parts, "ServiceAccount "+ns+"/"+n)
	}
	return strings.Join(parts, ", ")
}

var kindOrder = map[string]int{rbacv1.GroupKind: 0, rbacv1.UserKind: 1, rbacv1.ServiceAccountKind: 2}

func sortRows(rows []WhoCanRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		switch {
		case a.Reach != b.Reach:
			return reachOrder[a.Reach] < reachOrder[b.Reach]
		case a.Namespace != b.Namespace:
			return a.Namespace < b.Namespace
		case a.Request.String() != b.Request.String():
			return a.Request.String() < b.Request.String()
		case a.Subject.Kind != b.Subject.Kind:
			return kindOrder[a.Subject.Kind] < kindOrder[b.Subject.Kind]
		case a.Subject.Namespace != b.Subject.Namespace:
			return a.Subject.Namespace < b.Subject.Namespace
		default:
			return a.Subject.Name < b.Subject.Name
		}
	})
}

// mostNamesConfirmed bounds the SubjectAccessReviews for one "only these
// names" answer.
const mostNamesConfirmed = 10

// confirm asks the API server about every row (and, with ProbeAccounts,
// about every account in scope without a row), a few at a time.
func (w *whoCan) confirm(ctx context.Context, c hook.Clients, log *slog.Logger, res *WhoCanResult) error {
	var probes []WhoCanRow
	if w.o.ProbeAccounts {
		has := map[Subject]bool{}
		for _, r := range res.Rows {
			if r.Reach == ReachDirect {
				has[r.Subject] = true
			}
		}
		for n, names := range w.accounts {
			for _, a := range names {
				s := Subject{Kind: rbacv1.ServiceAccountKind, Namespace: n, Name: a}
				if has[s] {
					continue
				}
				req := res.Request
				if !w.o.ClusterScoped {
					req.Namespace = n
				}
				probes = append(probes, WhoCanRow{Subject: s, Namespace: req.Namespace, Reach: ReachDirect, Request: req})
			}
		}
	}
	all := slices.Concat(res.Rows, probes)
	var (
		mu        sync.Mutex
		forbidden error
		firstErr  error
		wg        sync.WaitGroup
		next      = make(chan int)
	)
	for range w.o.Concurrency {
		wg.Go(func() {
			for i := range next {
				err := w.confirmRow(ctx, c, log, &all[i])
				if err != nil {
					mu.Lock()
					var fe *hook.ForbiddenError
					if errors.As(err, &fe) {
						forbidden = err
					} else if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range all {
		mu.Lock()
		stop := forbidden != nil || firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if forbidden != nil {
		res.Unconfirmed = "answers not confirmed: " + forbidden.Error()
		for i := range all {
			all[i].Review, all[i].Agrees, all[i].Disagreement = nil, nil, ""
		}
		res.Rows = all[:len(res.Rows)]
		return nil
	}
	if firstErr != nil {
		return firstErr
	}
	res.Rows = all[:len(res.Rows)]
	// A probed account is shown when the API server allows more than the
	// bindings do, or could not evaluate every binding (incomplete).
	for _, p := range all[len(res.Rows):] {
		if p.Agrees != nil && (!*p.Agrees || p.Review.Incomplete() != "") {
			res.Rows = append(res.Rows, p)
		}
	}
	for _, r := range res.Rows {
		if r.Agrees != nil && !*r.Agrees {
			res.Disagreements++
		}
	}
	return nil
}

// confirmRow asks one SubjectAccessReview (more for an "only these names"
// answer) and records whether the API server agrees with the graph.
func (w *whoCan) confirmRow(ctx context.Context, c hook.Clients, log *slog.Logger, row *WhoCanRow) error {
	id := row.Subject.Identity()
	req := row.Request
	req.Namespace = row.Namespace
	expect := row.Answer.Allows(req.Name)
	rev, err := SubjectAccessReview(ctx, c.Kube, log, w.o.Retry, id, req)
	if err != nil {
		return err
	}
	row.Review = &rev
	agree := rev.Allowed == expect
	var why []string
	if !agree {
		if rev.Allowed {
			why = append(why, "the API server allows it but no binding does: another authorizer (a webhook, the Node authorizer) or a binding changed since it was read")
		} else {
			why = append(why, "the bindings allow it but the API server does not: another authorizer denies it, or a binding changed since it was read")
		}
		if rev.Reason != "" && rev.Incomplete() == "" {
			why = append(why, "reason: "+rev.Reason)
		}
	}
	if agree && req.Name == "" && row.Answer.Scope == OnlyNames {
		for i, n := range row.Answer.Names {
			if i == mostNamesConfirmed {
				break
			}
			nr := req
			nr.Name = n
			nrev, err := SubjectAccessReview(ctx, c.Kube, log, w.o.Retry, id, nr)
			if err != nil {
				return err
			}
			if !nrev.Allowed {
				agree = false
				why = append(why, fmt.Sprintf("the API server does not allow the name %q that a rule lists", n))
			}
		}
	}
	if inc := rev.Incomplete(); inc != "" {
		why = append(why, "incomplete: "+inc)
	}
	row.Agrees = &agree
	row.Disagreement = strings.Join(why, "; ")
	return nil
}
