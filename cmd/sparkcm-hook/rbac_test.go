package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/auth/rbac/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/exitcode"
	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// reportLine finds "#   RESULT  VERB  RESOURCE" in a preflight report.
func reportLine(out, result, verb, resource string) bool {
	re := regexp.MustCompile(`(?m)^#\s+` + regexp.QuoteMeta(result) + `\s+` + verb + `\s+` + regexp.QuoteMeta(resource) + `\s`)
	return re.MatchString(out)
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test control plane")
	}
}

// accountKubeconfig creates ServiceAccount ns/name, grants it rules in ns
// (none when empty) and returns a kubeconfig that authenticates as it.
func accountKubeconfig(t *testing.T, ns, name string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	kube, _ := clients(t)
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(rules) > 0 {
		if _, err := kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := cp.Get(t).ServiceAccountConfig(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfig(t, cfg, ns)
}

// manifest decodes the YAML documents of a preflight's text output.
func manifest(t *testing.T, out string) (*rbacv1.Role, *rbacv1.RoleBinding) {
	t.Helper()
	var role *rbacv1.Role
	var rb *rbacv1.RoleBinding
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("stdout is not YAML: %v\n%s", err, out)
		}
		switch meta.Kind {
		case "Role":
			role = &rbacv1.Role{}
			err = yaml.UnmarshalStrict(doc, role)
		case "RoleBinding":
			rb = &rbacv1.RoleBinding{}
			err = yaml.UnmarshalStrict(doc, rb)
		case "":
		default:
			t.Fatalf("unexpected %s in\n%s", meta.Kind, out)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if role == nil || rb == nil {
		t.Fatalf("no Role and RoleBinding in\n%s", out)
	}
	return role, rb
}

func TestPreflightPrintsARoleThatGrantsExactlyTheMissingVerbs(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	held := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list"}}
	kc := accountKubeconfig(t, ns, "partial", held)

	r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "cleanup")
	if r.code != exitcode.Forbidden {
		t.Fatalf("exit %d, want 3\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertOneLine(t, r)
	if !reportLine(r.stdout, "allowed", "get", "configmaps") || !reportLine(r.stdout, "DENIED", "delete", "configmaps") ||
		!reportLine(r.stdout, "denied (optional)", "get", "namespaces") {
		t.Errorf("report:\n%s", r.stdout)
	}
	role, rb := manifest(t, r.stdout)
	var missing []hook.Access
	for _, a := range hook.PermissionsFor(hook.CommandCleanup) {
		// The Apache operator's CRD is not installed here: its verbs are not asked.
		if !a.Optional && !a.WhenServed && !(a.Resource == "configmaps" && (a.Verb == "get" || a.Verb == "list")) {
			missing = append(missing, a)
		}
	}
	want := hook.RulesFor(func(hook.Access) bool { return true }, missing)
	if ok, extra := validation.Covers(want, role.Rules); !ok {
		t.Errorf("the Role grants more than is missing: %v", extra)
	}
	if ok, lacking := validation.Covers(role.Rules, want); !ok {
		t.Errorf("the Role lacks %v", lacking)
	}
	if role.Namespace != ns || rb.Namespace != ns || rb.RoleRef.Name != role.Name ||
		!reflect.DeepEqual(rb.Subjects, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "partial", Namespace: ns}}) {
		t.Errorf("binding %+v for role %s/%s", rb, role.Namespace, role.Name)
	}

	// Applying the printed manifest (as an admin) is all it takes.
	kube, _ := clients(t)
	ctx := context.Background()
	if _, err := kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "cleanup", "-o", "json")
	var p struct {
		User   string `json:"user"`
		Checks []struct {
			Verb, Resource string
			Allowed        bool `json:"allowed"`
			Optional       bool
		} `json:"checks"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &p) != nil {
		t.Fatalf("after applying the manifest: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	asked := 0
	for _, a := range hook.PermissionsFor(hook.CommandCleanup) {
		if !a.WhenServed {
			asked++
		}
	}
	if p.User != "system:serviceaccount:"+ns+":partial" || len(p.Checks) != asked {
		t.Errorf("preflight %+v", p)
	}
}

func TestCleanupWithPreflightStopsBeforeDeletingAnything(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	// Everything cleanup needs but the Event: without --preflight the
	// cleanup would delete the maps and only fail to record the Event.
	var rules []rbacv1.PolicyRule
	for _, rule := range hook.RulesFor(func(a hook.Access) bool { return !a.Optional }, hook.PermissionsFor(hook.CommandCleanup)) {
		if rule.Resources[0] != "events" {
			rules = append(rules, rule)
		}
	}
	kc := accountKubeconfig(t, ns, "no-events", rules...)
	r := runCLI(t, "cleanup", "--kubeconfig", kc, "--spark-app", app.Name, "--preflight")
	if r.code != exitcode.Forbidden || !reportLine(r.stdout, "DENIED", "create", "events") || !strings.Contains(r.stdout, "kind: Role") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertOneLine(t, r)
	if n := mapCount(t, ns); n != len(app.Maps) {
		t.Fatalf("%d of %d maps left: the preflight must stop the cleanup before it deletes", n, len(app.Maps))
	}
	// Without --preflight the same identity deletes (the Event is optional
	// to the cleanup itself).
	if r := runCLI(t, "cleanup", "--kubeconfig", kc, "--spark-app", app.Name); r.code != 0 || mapCount(t, ns) != 0 {
		t.Fatalf("cleanup without --preflight: exit %d\n%s", r.code, r.stderr)
	}
}

func TestSweepAndWatchAcceptPreflight(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kc := accountKubeconfig(t, ns, "nobody-else")
	for _, args := range [][]string{
		{"sweep", "--kubeconfig", kc, "--older-than", "0s", "--preflight"},
		{"watch", "--kubeconfig", kc, "--pod", app.DriverPod, "--preflight", "-o", "json"},
	} {
		r := runCLI(t, args...)
		if r.code != exitcode.Forbidden {
			t.Fatalf("%v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
		}
		assertOneLine(t, r)
	}
	if mapCount(t, ns) != len(app.Maps) {
		t.Fatal("maps deleted")
	}
	// The admin passes the preflight and the sweep runs.
	if r := runCLI(t, "sweep", "--kubeconfig", kubeconfig(t, cp.Get(t).AdminConfig(), ns), "--older-than", "0s", "--preflight"); r.code != 0 {
		t.Fatalf("admin sweep --preflight: exit %d\n%s", r.code, r.stderr)
	}
}

// Where the Apache operator's CRD is installed, preflight asks for its
// verbs too: the chart's Role without them fails it, naming them, and with
// them passes. Where it is not installed, they are not asked.
func TestPreflightNamesTheApacheVerbsWhenItsCRDIsInstalled(t *testing.T) {
	skipShort(t)
	ctx := context.Background()
	both := kubecluster.ForTest(t, kubecluster.Options{ApacheCRD: true})
	ns := both.NewNamespace(t)
	kube := kubernetes.NewForConfigOrDie(both.AdminConfig())
	grant := func(name string, rules []rbacv1.PolicyRule) string {
		t.Helper()
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cfg, err := both.ServiceAccountConfig(ctx, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		return kubeconfig(t, cfg, ns)
	}
	kubeflowOnly := grant("kubeflow-only", hook.RoleRules())
	r := runCLI(t, "rbac", "preflight", "--kubeconfig", kubeflowOnly, "--for", "sweep")
	if r.code != exitcode.Forbidden {
		t.Fatalf("the Role without the Apache verbs: exit %d, want 3\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, verb := range []string{"get", "list"} {
		if !reportLine(r.stdout, "DENIED", verb, "sparkapplications.spark.apache.org") {
			t.Errorf("preflight does not name %s sparkapplications.spark.apache.org as denied:\n%s", verb, r.stdout)
		}
	}
	role, _ := manifest(t, r.stdout)
	if ok, _ := validation.Covers(role.Rules, hook.RulesFor(func(a hook.Access) bool { return a.WhenServed && slices.Contains(a.Commands, hook.CommandSweep) }, hook.Permissions())); !ok {
		t.Errorf("the printed Role %v does not grant the Apache verbs sweep needs", role.Rules)
	}
	withApache := grant("with-apache", append(hook.RoleRules(), hook.WhenServedRules()...))
	if r := runCLI(t, "rbac", "preflight", "--kubeconfig", withApache, "--for", "sweep"); r.code != 0 {
		t.Fatalf("the Role with the Apache verbs: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Without the CRD (the shared control plane) the same Role passes.
	plain := cp.NewNamespace(t)
	kc := accountKubeconfig(t, plain, "kubeflow-only", hook.RoleRules()...)
	if r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "sweep"); r.code != 0 || strings.Contains(r.stdout, "spark.apache.org") {
		t.Fatalf("without the Apache CRD: exit %d, want 0 and no spark.apache.org check\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestInventoryCLIResolvesOwnersAndMarksUnusedAccounts(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	kube, _ := clients(t)
	ctx := context.Background()
	for _, n := range []string{"web", "idle"} {
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: n}, AutomountServiceAccountToken: ptr.To(false)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	dep, err := kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := kube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5f6d7",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web-5f6d7-a", "web-5f6d7-b"} {
		if _, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "rbac", "inventory", "--kubeconfig", kubeconfig(t, cp.Get(t).AdminConfig(), ns), "-o", "csv")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || !reflect.DeepEqual(recs[0], inventoryCSVHeader) {
		t.Fatalf("csv: %v\n%s", err, r.stdout)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	seen := map[string]bool{}
	for _, rec := range recs[1:] {
		sa := rec[col["serviceaccount"]]
		seen[sa] = true
		switch sa {
		case "web":
			if rec[col["owners"]] != "Deployment web (2)" || rec[col["pods"]] != "web-5f6d7-a web-5f6d7-b" || rec[col["unused"]] != "false" || rec[col["automount"]] != "false" {
				t.Errorf("web: %q", rec)
			}
		case "idle", "default":
			if rec[col["unused"]] != "true" || rec[col["pod_count"]] != "0" {
				t.Errorf("%s: %q", sa, rec)
			}
		}
		// Every account is in the implicit groups: the discovery and
		// basic-user grants reach it through system:authenticated.
	}
	for _, sa := range []string{"default", "web", "idle"} {
		if !seen[sa] {
			t.Errorf("no row for %s", sa)
		}
	}
	if !strings.Contains(r.stdout, "Group system:authenticated -> ClusterRoleBinding system:basic-user -> ClusterRole system:basic-user") {
		t.Error("the implicit group grants are missing")
	}
}

func TestInventoryCLINamesWhatItCouldNotReadAndExitsThreeOnlyWhenNothingCouldBe(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	some := accountKubeconfig(t, ns, "lister",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"list"}},
		rbacv1.PolicyRule{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"roles", "rolebindings"}, Verbs: []string{"list"}})
	r := runCLI(t, "rbac", "inventory", "--kubeconfig", some)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"GAP: could not list clusterrolebindings (cluster-scoped): forbidden", "GAP: could not list pods in namespace " + ns + ": forbidden",
		"GAP: could not list rolebindings in all namespaces: forbidden", ns + "  lister", "unknown"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "GAP: could not list rolebindings in namespace") {
		t.Errorf("the namespace's RoleBindings could be read:\n%s", r.stdout)
	}
	nothing := accountKubeconfig(t, ns, "blind")
	r = runCLI(t, "rbac", "inventory", "--kubeconfig", nothing)
	if r.code != exitcode.Forbidden || !strings.Contains(r.stderr, "could not read anything") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertOneLine(t, r)
}

func TestWhoCanCLITakesFlagsAfterItsArgumentsAndRejectsBadInput(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), "")
	accountKubeconfig(t, ns, "spark", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"delete"}, ResourceNames: []string{"keep"}})
	r := runCLI(t, "rbac", "who-can", "delete", "configmaps", "--kubeconfig", kc, "-n", ns)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"Group system:masters", "bypasses-rbac", "ServiceAccount " + ns + "/spark", "only keep", " 0 disagreement(s)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, "rbac", "who-can", "delete", "configmaps", "--kubeconfig", kc, "-n", ns, "--name", "keep", "-o", "json", "--no-indirect")
	var res struct {
		Rows []struct {
			Subject struct{ Kind, Name, Namespace string }
			Agrees  *bool `json:"agrees"`
		} `json:"rows"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	found := false
	for _, row := range res.Rows {
		found = found || (row.Subject.Name == "spark" && row.Subject.Namespace == ns && row.Agrees != nil && *row.Agrees)
	}
	if !found {
		t.Errorf("--name keep: no confirmed row for the account:\n%s", r.stdout)
	}
	for name, args := range map[string][]string{
		"one argument":   {"rbac", "who-can", "delete", "--kubeconfig", kc, "-n", ns},
		"bad resource":   {"rbac", "who-can", "delete", "ConfigMaps", "--kubeconfig", kc, "-n", ns},
		"-n and -A":      {"rbac", "who-can", "delete", "configmaps", "--kubeconfig", kc, "-n", ns, "-A"},
		"bad output":     {"rbac", "who-can", "delete", "configmaps", "--kubeconfig", kc, "-n", ns, "-o", "xml"},
		"bad name":       {"rbac", "who-can", "delete", "configmaps", "--kubeconfig", kc, "-n", ns, "--name", "Bad_Name"},
		"unknown for":    {"rbac", "preflight", "--kubeconfig", kc, "-n", ns, "--for", "everything"},
		"inventory args": {"rbac", "inventory", "--kubeconfig", kc, "extra"},
		"unknown flag":   {"rbac", "inventory", "--kubeconfig", kc, "--bogus"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, args...)
			if r.code != exitcode.Usage {
				t.Fatalf("exit %d, want 2: %s", r.code, r.stderr)
			}
			assertOneLine(t, r)
		})
	}
}

// sweep -A reads cluster-wide in one pass where it may, else namespace by
// namespace, which starts by listing the namespaces: preflight -A checks
// that list too, required exactly when a cluster-wide read is refused.
func TestPreflightForSweepAllNamespacesChecksListNamespaces(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	sweepRules := hook.RulesFor(func(a hook.Access) bool { return !a.Optional }, hook.PermissionsFor(hook.CommandSweep))
	type check struct {
		Verb, Resource string
		Allowed        bool `json:"allowed"`
		Optional       bool
	}
	var p struct {
		Checks  []check             `json:"checks"`
		Missing []rbacv1.PolicyRule `json:"missing"`
	}
	listNS := func() *check {
		for i, c := range p.Checks {
			if c.Verb == "list" && c.Resource == "namespaces" {
				return &p.Checks[i]
			}
		}
		return nil
	}

	// Bound by a Role in one namespace only, without list namespaces.
	kc := accountKubeconfig(t, ns, "role-only", sweepRules...)
	r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "sweep", "-A")
	if r.code != exitcode.Forbidden || !reportLine(r.stdout, "DENIED", "list", "namespaces") {
		t.Fatalf("Role-only account: exit %d, want 3 and list namespaces DENIED\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	assertOneLine(t, r)
	r = runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "sweep", "-A", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if c := listNS(); c == nil || c.Allowed || c.Optional {
		t.Errorf("list namespaces check %+v, want required and denied", c)
	}
	granted := false
	for _, rule := range p.Missing {
		granted = granted || (slices.Contains(rule.Resources, "namespaces") && slices.Contains(rule.Verbs, "list"))
	}
	if !granted {
		t.Errorf("the manifest's rules %v do not grant list namespaces", p.Missing)
	}

	// Bound cluster-wide: one pass, list namespaces not needed.
	kube, _ := clients(t)
	ctx := context.Background()
	name := ns + "-sweeper"
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: sweepRules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}) })
	kc = accountKubeconfig(t, ns, "cluster-wide")
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "cluster-wide", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}) })
	r = runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "sweep", "-A", "-o", "json")
	p.Checks, p.Missing = nil, nil
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &p) != nil {
		t.Fatalf("cluster-wide account: exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c := listNS(); c == nil || !c.Optional {
		t.Errorf("list namespaces check %+v, want it optional where every read is allowed cluster-wide", c)
	}
}

// report runs with sweep's reads alone: an account granted exactly what
// `rbac preflight --for report` checks (no delete) reads the backlog, while
// sweep with the same account is refused its deletes.
func TestReportRunsWithSweepsReadsAlone(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	newApp(t, ns, sparkfixture.Spec{})
	readRules := hook.RulesFor(func(a hook.Access) bool { return !a.Optional }, hook.PermissionsFor(hook.CommandReport))
	kc := accountKubeconfig(t, ns, "reader", readRules...)
	if r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "report"); r.code != exitcode.OK {
		t.Fatalf("preflight --for report: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r := runCLI(t, "report", "--kubeconfig", kc, "--preflight", "--sizes", "-o", "json")
	if r.code != exitcode.OK {
		t.Fatalf("report with sweep's reads: exit %d\n%s", r.code, r.stderr)
	}
	var rep hook.ReportResult
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Total.WouldDelete == 0 {
		t.Fatalf("report %+v (%v)", rep.Total, err)
	}
	if r := runCLI(t, "rbac", "preflight", "--kubeconfig", kc, "--for", "sweep"); r.code != exitcode.Forbidden {
		t.Fatalf("preflight --for sweep with reads only: exit %d, want 3", r.code)
	}
}

// report -A --sizes with an account bound in one namespace only (and
// allowed to list namespaces) reads it namespace by namespace, as sweep -A
// does: it measures the namespace it may read and names the others as
// unread, rather than failing on the cluster-wide list of full ConfigMaps.
func TestReportAllNamespacesWithSizesGoesNamespaceByNamespaceWhereClusterWideIsRefused(t *testing.T) {
	skipShort(t)
	ns := cp.NewNamespace(t)
	newApp(t, ns, sparkfixture.Spec{})
	readRules := hook.RulesFor(func(a hook.Access) bool { return !a.Optional }, hook.PermissionsFor(hook.CommandReport))
	kc := accountKubeconfig(t, ns, "ns-reader", readRules...)
	kube, _ := clients(t)
	ctx := context.Background()
	name := ns + "-list-namespaces"
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}) })
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "ns-reader", Namespace: ns}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}) })
	r := runCLI(t, "report", "--kubeconfig", kc, "-A", "--sizes", "-o", "json")
	if r.code != exitcode.OK {
		t.Fatalf("report -A --sizes: exit %d\n%s", r.code, r.stderr)
	}
	var rep hook.ReportResult
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.WouldDelete == 0 || rep.Total.Bytes == 0 || len(rep.Unreadable) == 0 {
		t.Fatalf("report -A --sizes: %+v, unread %v", rep.Total, rep.Unreadable)
	}
}
