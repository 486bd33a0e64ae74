package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// The issue-11 row: `sparkcm-hook rbac inventory -A` against the shell
// inventory seed-sa-inventory.sh on --inv-namespaces namespaces of
// --inv-accounts ServiceAccounts each, with bindings of every kind:
//
//	sa-00, sa-01  Role cm-rw through a RoleBinding; sa-00 runs two bare Pods
//	sa-02, sa-03  ClusterRole inv-pod-reader through a RoleBinding (sa-03's
//	              subject has no namespace); sa-02 runs a Deployment's Pod
//	sa-04         Role named-cm: delete only the map "keep" (resourceNames)
//	sa-05         ClusterRole inv-deployer through its own ClusterRoleBinding;
//	              runs a CronJob's Pod
//	every account ClusterRole inv-event-reader through a RoleBinding to the
//	              group system:serviceaccounts:<ns>, and inv-discovery
//	              through one ClusterRoleBinding to system:serviceaccounts
//	the rest      nothing of their own
//
// The script asks several API calls per account and sees only bindings that
// name the account, so it is run over a sample of the namespaces (a kubectl
// wrapper on its PATH answers its one `kubectl get ns` with the sample; every
// other call goes to kubectl unchanged).

const invPrefix = "inv-"

type inventoryScene struct {
	namespaces []string
	accounts   int // ServiceAccounts in the seeded namespaces, "default" included
}

func (a *admin) seedInventory(ctx context.Context, namespaces, accounts int, logf func(string, ...any)) (*inventoryScene, error) {
	sc := &inventoryScene{}
	clusterRoles := []*rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "inv-pod-reader"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list", "watch"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "inv-deployer"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"create", "update"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"delete"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "inv-event-reader"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "inv-discovery"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}}}},
	}
	for _, cr := range clusterRoles {
		if _, err := a.kube.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create clusterrole %s: %w", cr.Name, err)
		}
	}
	if _, err := a.kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "inv-all-accounts"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "inv-discovery"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts"}},
	}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	for i := range namespaces {
		sc.namespaces = append(sc.namespaces, fmt.Sprintf("%s%03d", invPrefix, i))
	}
	sc.accounts = namespaces * (accounts + 1)
	err := parallel(ctx, namespaces, max(1, a.workers/8), func(ctx context.Context, i int) error {
		return a.seedInventoryNamespace(ctx, sc.namespaces[i], accounts)
	})
	if err != nil {
		return nil, err
	}
	logf("seeded %d namespaces x %d ServiceAccounts with Roles, RoleBindings, ClusterRoleBindings, group bindings and Pods", namespaces, accounts)
	return sc, nil
}

func (a *admin) seedInventoryNamespace(ctx context.Context, ns string, accounts int) error {
	if err := a.cp.CreateNamespace(ctx, ns); err != nil {
		return err
	}
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("sa-%02d", i)
	}
	if err := parallel(ctx, accounts, 8, func(ctx context.Context, i int) error {
		_, err := a.kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: names[i]}}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("create serviceaccounts in %s: %w", ns, err)
	}
	rb := a.kube.RbacV1()
	sa := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	}
	roles := []*rbacv1.Role{
		{ObjectMeta: metav1.ObjectMeta{Name: "cm-rw"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "delete"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "named-cm"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"delete"}, ResourceNames: []string{"keep"}}}},
	}
	for _, r := range roles {
		if _, err := rb.Roles(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	binding := func(name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}, Subjects: subjects}
	}
	noNamespace := sa(names[min(3, accounts-1)])
	noNamespace.Namespace = ""
	for _, b := range []*rbacv1.RoleBinding{
		binding("cm-rw", "Role", "cm-rw", sa(names[0]), sa(names[min(1, accounts-1)])),
		binding("pod-reader", "ClusterRole", "inv-pod-reader", sa(names[min(2, accounts-1)]), noNamespace),
		binding("named-cm", "Role", "named-cm", sa(names[min(4, accounts-1)])),
		binding("namespace-accounts", "ClusterRole", "inv-event-reader", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:" + ns}),
	} {
		if _, err := rb.RoleBindings(ns).Create(ctx, b, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	if _, err := rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-deployer"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "inv-deployer"},
		Subjects:   []rbacv1.Subject{sa(names[min(5, accounts-1)])},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// Workloads, created as objects only (no controller runs here): a
	// Deployment -> ReplicaSet -> Pod and a CronJob -> Job -> Pod chain.
	labels := map[string]string{"app": "web"}
	dep, err := a.kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels)}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	rsObj, err := a.kube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d9f8", OwnerReferences: []metav1.OwnerReference{*controllerRef("apps/v1", "Deployment", dep.Name, dep.UID)}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: podTemplate(labels)}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	cj, err := a.kube.BatchV1().CronJobs(ns).Create(ctx, cronJob(), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	job, err := a.kube.BatchV1().Jobs(ns).Create(ctx, jobOf(cj), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	pods := []struct {
		name, account string
		owner         *metav1.OwnerReference
	}{
		{"batch-a", names[0], nil},
		{"batch-b", names[0], nil},
		{"web-7d9f8-x2k4p", names[min(2, accounts-1)], controllerRef("apps/v1", "ReplicaSet", rsObj.Name, rsObj.UID)},
		{"report-29000000-abcde", names[min(5, accounts-1)], controllerRef("batch/v1", "Job", job.Name, job.UID)},
	}
	for _, p := range pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name},
			Spec: corev1.PodSpec{ServiceAccountName: p.account, RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "main", Image: "registry.example.com/app:1.0"}}},
		}
		if p.owner != nil {
			pod.OwnerReferences = []metav1.OwnerReference{*p.owner}
		}
		if _, err := a.kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s/%s: %w", ns, p.name, err)
		}
	}
	return nil
}

func controllerRef(apiVersion, kind, name string, uid types.UID) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}
}

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "main", Image: "registry.example.com/app:1.0"}}}}
}

func cronJob() *batchv1.CronJob {
	t := podTemplate(nil)
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "report"}, Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}}}}
}

func jobOf(cj *batchv1.CronJob) *batchv1.Job {
	t := podTemplate(nil)
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "report-29000000",
		OwnerReferences: []metav1.OwnerReference{*controllerRef("batch/v1", "CronJob", cj.Name, cj.UID)}},
		Spec: batchv1.JobSpec{Template: t}}
}

// shellInventoryRow is one CSV row of seed-sa-inventory.sh.
type shellInventoryRow struct {
	ns, sa, boundKind, boundName, resources, verbs string
	pods                                           []string
}

// ourInventoryRow is the part of `rbac inventory -o json` the comparison
// reads.
type ourInventoryRow struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	Subject        *struct {
		Kind string `json:"kind"`
	} `json:"subject"`
	Binding       *struct{ Kind, Namespace, Name string } `json:"binding"`
	Role          *struct{ Kind, Namespace, Name string } `json:"role"`
	Resources     []string                                `json:"resources"`
	ResourceNames []string                                `json:"resourceNames"`
	Verbs         []string                                `json:"verbs"`
	Pods          []string                                `json:"pods"`
	Unused        bool                                    `json:"unused"`
}

func (b *bench) inventory(ctx context.Context, rep *report, sc *inventoryScene) error {
	scope := fmt.Sprintf("%s namespaces x %d ServiceAccounts (+ default each)", num(len(sc.namespaces)), b.o.invAccounts)
	b.logf("issue 11: sparkcm-hook rbac inventory -A over %s", scope)
	p, reqs, err := b.measured(ctx, b.env(), b.o.bin, "rbac", "inventory", "--kubeconfig", b.kubeconfig, "-A", "-o", "json", "--pod-names", "100")
	if err != nil {
		return err
	}
	var ours struct {
		Rows    []ourInventoryRow                    `json:"rows"`
		Summary struct{ Accounts, Unused, Rows int } `json:"summary"`
	}
	if err := json.Unmarshal(p.stdout, &ours); err != nil || p.exitCode != 0 {
		return fmt.Errorf("rbac inventory exited %d (%w); stderr:\n%s", p.exitCode, err, tail(p.stderr, 20))
	}
	b.logf("  %s, peak RSS %s, %d accounts, %d rows; requests %s", p.wall.Round(time.Millisecond), mib(p.maxRSS), ours.Summary.Accounts, ours.Summary.Rows, reqs)
	perAccount := p.wall / time.Duration(ours.Summary.Accounts)
	rep.inventory = measurement{wall: p.wall, perMap: perAccount, rss: p.maxRSS, ok: p.exitCode == 0}
	rep.add(row{
		issue: "11", run: "`sparkcm-hook rbac inventory -A -o json` (the binary)",
		scope: fmt.Sprintf("%s; %s accounts in the cluster", scope, num(ours.Summary.Accounts)),
		wall:  dur(p.wall), perMap: durPrec(perAccount) + " per account", rss: mib(p.maxRSS), requests: fmt.Sprint(reqs.total),
		deleted: "-", lost: "-",
		notes: fmt.Sprintf("%s rows, %s accounts used by no Pod; one paged LIST per kind (pages of 500): %s", num(ours.Summary.Rows), num(ours.Summary.Unused), reqs),
	})

	base := row{issue: "11", run: "shell inventory `seed-sa-inventory.sh`", deleted: "-", lost: "-"}
	switch {
	case b.kubectl == "" || b.jq == "":
		base.wall = "n/a (kubectl or jq not installed)"
		rep.add(base)
		return nil
	case b.o.invSample < 0:
		base.wall = "skipped (--inv-sample -1)"
		rep.add(base)
		return nil
	}
	if _, err := os.Stat(b.o.invScript); err != nil {
		base.wall = fmt.Sprintf("skipped (%s not found; set --inv-script)", b.o.invScript)
		b.logf("issue 11: skipping the shell inventory row: %s not found", b.o.invScript)
		rep.add(base)
		return nil
	}
	sample := sc.namespaces
	if b.o.invSample > 0 && b.o.invSample < len(sample) {
		sample = sample[:b.o.invSample]
	}
	shim, err := b.kubectlShim(sample)
	if err != nil {
		return err
	}
	out := filepath.Join(b.home, "sa_inventory.csv")
	env := b.env("OUT="+out, "PATH="+shim+string(os.PathListSeparator)+os.Getenv("PATH"))
	b.logf("issue 11: shell inventory over %d of the %d namespaces", len(sample), len(sc.namespaces))
	sp, sreqs, err := b.measured(ctx, env, "bash", b.o.invScript)
	if err != nil {
		return err
	}
	if sp.exitCode != 0 {
		return fmt.Errorf("seed-sa-inventory.sh exited %d:\n%s", sp.exitCode, tail(sp.stderr, 20))
	}
	sampleAccounts := len(sample) * (b.o.invAccounts + 1)
	scriptPer := sp.wall / time.Duration(sampleAccounts)
	b.logf("  %s for %d accounts (%s each), largest process %s; requests %s", sp.wall.Round(time.Millisecond), sampleAccounts, durPrec(scriptPer), mib(sp.maxRSS), sreqs)
	rows, err := readShellInventory(out)
	if err != nil {
		return err
	}
	check, err := b.compareInventory(ctx, rows, ours.Rows, sample)
	if err != nil {
		return err
	}
	rep.shellInventory = measurement{wall: sp.wall, perMap: scriptPer, rss: sp.maxRSS, ok: true}
	rep.inventoryRight, rep.inventoryFound = check.right, check.found
	base.scope = fmt.Sprintf("sample: the first %d namespaces (%d accounts); the same cluster", len(sample), sampleAccounts)
	base.wall = fmt.Sprintf("%s for %d accounts; ≈ %s for %s", dur(sp.wall), sampleAccounts, dur(scriptPer*time.Duration(ours.Summary.Accounts)), num(ours.Summary.Accounts))
	base.perMap = durPrec(scriptPer) + " per account"
	base.rss = mib(sp.maxRSS) + " (largest process)"
	base.requests = fmt.Sprintf("%d for %d accounts (%.1f per account)", sreqs.total, sampleAccounts, float64(sreqs.total)/float64(sampleAccounts))
	base.notes = check.notes
	rep.add(base)
	return nil
}

// kubectlShim is a folder with a kubectl that answers `get ns` with the
// sample and runs the real kubectl for everything else.
func (b *bench) kubectlShim(sample []string) (string, error) {
	dir := filepath.Join(b.home, "shim")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	script := fmt.Sprintf(`#!/bin/sh
# The bench's sample: the shell inventory sees only these namespaces.
if [ "$1" = get ] && [ "$2" = ns ]; then echo %q; exit 0; fi
exec %q "$@"
`, strings.Join(sample, " "), b.kubectl)
	return dir, os.WriteFile(filepath.Join(dir, "kubectl"), []byte(script), 0o755)
}

func readShellInventory(path string) ([]shellInventoryRow, error) {
	f, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs, err := csv.NewReader(bytes.NewReader(f)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var out []shellInventoryRow
	for _, r := range recs[1:] {
		if len(r) != 7 {
			return nil, fmt.Errorf("%s: row %q has %d fields", path, r, len(r))
		}
		out = append(out, shellInventoryRow{ns: r[0], sa: r[1], boundKind: r[2], boundName: r[3], resources: r[4], verbs: r[5], pods: strings.Fields(r[6])})
	}
	return out, nil
}

type inventoryCheck struct {
	right, wrong, found int
	notes               string
}

// compareInventory judges each of the script's rows against the cluster
// itself (the binding names the account, its role has a rule with exactly
// those resources and verbs and no resourceNames, the Pods are the
// account's), and looks each right row up in ours.
func (b *bench) compareInventory(ctx context.Context, script []shellInventoryRow, ours []ourInventoryRow, sample []string) (inventoryCheck, error) {
	var c inventoryCheck
	podsOf := map[string][]string{}
	for _, ns := range sample {
		l, err := b.a.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return c, err
		}
		for _, p := range l.Items {
			k := ns + "/" + p.Spec.ServiceAccountName
			podsOf[k] = append(podsOf[k], p.Name)
		}
	}
	wrongWhy := map[string]int{}
	for _, r := range script {
		rules, named, err := b.rulesBehind(ctx, r)
		if err != nil {
			return c, err
		}
		var match *rbacv1.PolicyRule
		for i := range rules {
			if strings.Join(rules[i].Resources, "&") == r.resources && strings.Join(rules[i].Verbs, "&") == r.verbs {
				match = &rules[i]
			}
		}
		switch {
		case !named || match == nil:
			c.wrong++
			wrongWhy["no such grant"]++
			continue
		case len(match.ResourceNames) > 0:
			c.wrong++
			wrongWhy["a resourceNames rule shown as a grant on every name"]++
			continue
		case !sameSet(r.pods, podsOf[r.ns+"/"+r.sa]):
			c.wrong++
			wrongWhy["wrong Pods"]++
			continue
		}
		c.right++
		if slices.ContainsFunc(ours, func(o ourInventoryRow) bool { return sameGrant(r, o) }) {
			c.found++
		}
	}
	inSample := map[string]bool{}
	for _, ns := range sample {
		inSample[ns] = true
	}
	oursRows, viaGroups, noGrant, accounts := 0, 0, 0, map[string]bool{}
	for _, o := range ours {
		if !inSample[o.Namespace] {
			continue
		}
		oursRows++
		accounts[o.Namespace+"/"+o.ServiceAccount] = true
		switch {
		case o.Binding == nil:
			noGrant++
		case o.Subject != nil && o.Subject.Kind == rbacv1.GroupKind:
			viaGroups++
		}
	}
	scriptAccounts := map[string]bool{}
	for _, r := range script {
		scriptAccounts[r.ns+"/"+r.sa] = true
	}
	var why []string
	for k, n := range wrongWhy {
		why = append(why, fmt.Sprintf("%d: %s", n, k))
	}
	sort.Strings(why)
	c.notes = fmt.Sprintf("%d rows, %d right, all %d found in ours (%d of %d); %d wrong (%s); it lists %d of the %d accounts in its sample: "+
		"no row for accounts without a binding of their own, none for grants through groups (ours has %d rows through groups, %d accounts with no grant at all, %d rows over those namespaces)",
		len(script), c.right, c.right, c.found, c.right, c.wrong, orNone(strings.Join(why, ", ")), len(scriptAccounts), len(accounts), viaGroups, noGrant, oursRows)
	if c.found != c.right {
		c.notes = strings.Replace(c.notes, fmt.Sprintf("all %d found", c.right), "NOT all found", 1)
	}
	return c, nil
}

// rulesBehind reads the rules of the binding a script row names, and
// whether the binding names the account.
func (b *bench) rulesBehind(ctx context.Context, r shellInventoryRow) ([]rbacv1.PolicyRule, bool, error) {
	var ref rbacv1.RoleRef
	var subjects []rbacv1.Subject
	bindingNS := r.ns
	switch r.boundKind {
	case "ClusterRoleBinding":
		crb, err := b.a.kube.RbacV1().ClusterRoleBindings().Get(ctx, r.boundName, metav1.GetOptions{})
		if err != nil {
			return nil, false, err
		}
		ref, subjects, bindingNS = crb.RoleRef, crb.Subjects, ""
	default:
		rb, err := b.a.kube.RbacV1().RoleBindings(r.ns).Get(ctx, r.boundName, metav1.GetOptions{})
		if err != nil {
			return nil, false, err
		}
		ref, subjects = rb.RoleRef, rb.Subjects
	}
	named := slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNS
		}
		return s.Kind == rbacv1.ServiceAccountKind && s.Name == r.sa && ns == r.ns
	})
	if ref.Kind == "Role" {
		role, err := b.a.kube.RbacV1().Roles(r.ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, false, err
		}
		return role.Rules, named && r.boundKind == "RoleBinding", nil
	}
	cr, err := b.a.kube.RbacV1().ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	return cr.Rules, named && r.boundKind != "RoleBinding", nil
}

// sameGrant reports whether our row is the script's: the account itself
// named by the same binding, the same kind of role, the same resources,
// verbs and Pods.
func sameGrant(r shellInventoryRow, o ourInventoryRow) bool {
	if o.Namespace != r.ns || o.ServiceAccount != r.sa || o.Binding == nil || o.Role == nil || o.Subject == nil || o.Subject.Kind != rbacv1.ServiceAccountKind {
		return false
	}
	kind := map[string][2]string{"RoleBinding": {"RoleBinding", "Role"}, "RoleBinding->ClusterRole": {"RoleBinding", "ClusterRole"}, "ClusterRoleBinding": {"ClusterRoleBinding", "ClusterRole"}}[r.boundKind]
	return o.Binding.Kind == kind[0] && o.Role.Kind == kind[1] && o.Binding.Name == r.boundName &&
		strings.Join(o.Resources, "&") == r.resources && strings.Join(o.Verbs, "&") == r.verbs && sameSet(o.Pods, r.pods)
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}
