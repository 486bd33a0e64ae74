package helm_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

const leaseGroup = "coordination.k8s.io"

// controllerDeployment is the one Deployment a render holds.
func controllerDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return typed[appsv1.Deployment](t, one(t, objs, "Deployment"))
}

func TestChartControllerModeRunsALeaderElectedDeploymentInsteadOfTheCronJob(t *testing.T) {
	objs := render(t, "sparkcm-hook", "spark-jobs", "mode=controller")
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind())
		if o.GetNamespace() != "spark-jobs" {
			t.Errorf("%s %s in namespace %q, want spark-jobs", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	slices.Sort(got)
	if want := []string{"Deployment", "PodDisruptionBudget", "Role", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rendered kinds %v, want %v (and no CronJob)", got, want)
	}

	d := controllerDeployment(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if sa := one(t, objs, "ServiceAccount").GetName(); pod.ServiceAccountName != sa || pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Errorf("Pods run as %q (token mounted: %v), want the chart's %q with its token", pod.ServiceAccountName, pod.AutomountServiceAccountToken, sa)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "controller" {
		t.Fatalf("command %q args %q, want the image's entrypoint with controller", c.Command, c.Args)
	}
	for _, arg := range []string{"--leader-elect", "--lease-name=sparkcm-hook", "--http-addr=:8080", "--grace=1s", "--resync-period=1h", "--older-than=1h", "--workers=4"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
	if slices.Contains(c.Args, "--dry-run") {
		t.Errorf("args %q: dry run by default", c.Args)
	}
	env := envMap(c.Env)
	for k, v := range map[string]string{
		"POD_NAME": "fieldRef:metadata.name", "POD_NAMESPACE": "fieldRef:metadata.namespace",
		"SPARKCM_NAMESPACE": "fieldRef:metadata.namespace", "SPARKCM_LOG_FORMAT": "json",
	} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v, want http 8080", c.Ports)
	}
	for name, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("probe on %s: %+v, want an HTTP GET of %s on port http", name, p, name)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the selector %v does not match the Pod labels %v", sel, d.Spec.Template.Labels)
		}
	}
	if sel["app.kubernetes.io/component"] != "controller" {
		t.Errorf("selector %v: want the controller component, so that it never counts other Pods of the release", sel)
	}

	// The values reach the command line.
	d = controllerDeployment(t, render(t, "r", "ops", "mode=controller", "controller.replicas=3", "controller.grace=0s",
		"controller.httpPort=9090", "controller.leaseName=shared", "controller.dryRun=true", "controller.extraArgs={--no-event}"))
	c = d.Spec.Template.Spec.Containers[0]
	if *d.Spec.Replicas != 3 || c.Ports[0].ContainerPort != 9090 {
		t.Errorf("replicas %d port %d, want 3 and 9090", *d.Spec.Replicas, c.Ports[0].ContainerPort)
	}
	for _, arg := range []string{"--grace=0s", "--http-addr=:9090", "--lease-name=shared", "--dry-run", "--no-event"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %q lack %s", c.Args, arg)
		}
	}
}

func TestChartDefaultModeIsTheCronJobAndNoController(t *testing.T) {
	for _, set := range [][]string{nil, {"mode=cronjob"}} {
		objs := render(t, "sparkcm-hook", "spark-jobs", set...)
		if n := len(find(objs, "Deployment")) + len(find(objs, "PodDisruptionBudget")); n != 0 {
			t.Errorf("%v: a Deployment or PDB without mode=controller: %v", set, kinds(objs))
		}
		one(t, objs, "CronJob")
		for _, r := range find(objs, "Role") {
			for _, p := range expand(typed[rbacv1.Role](t, r).Rules) {
				if p.group == leaseGroup || (p.resource == "configmaps" && p.verb == "watch") {
					t.Errorf("%v: Role %s grants %s, which only the controller needs", set, r.GetName(), p)
				}
			}
		}
	}
}

// The controller's Pods run exactly as hardened as the CronJob's, whatever
// the security context values say.
func TestChartControllerPodsHaveTheCronJobsSecurityContext(t *testing.T) {
	for name, set := range map[string][]string{
		"defaults": nil,
		"custom":   {"podSecurityContext.runAsUser=1001", "podSecurityContext.fsGroup=1001", "securityContext.readOnlyRootFilesystem=true"},
	} {
		t.Run(name, func(t *testing.T) {
			cj := typed[batchv1.CronJob](t, one(t, render(t, "sparkcm-hook", "spark-jobs", set...), "CronJob"))
			d := controllerDeployment(t, render(t, "sparkcm-hook", "spark-jobs", append([]string{"mode=controller"}, set...)...))
			cronPod, ctlPod := cj.Spec.JobTemplate.Spec.Template.Spec, d.Spec.Template.Spec
			if cronPod.SecurityContext == nil || !reflect.DeepEqual(ctlPod.SecurityContext, cronPod.SecurityContext) {
				t.Errorf("pod securityContext %+v, the CronJob's %+v", ctlPod.SecurityContext, cronPod.SecurityContext)
			}
			if sc := cronPod.Containers[0].SecurityContext; sc == nil || !reflect.DeepEqual(ctlPod.Containers[0].SecurityContext, sc) {
				t.Errorf("container securityContext %+v, the CronJob's %+v", ctlPod.Containers[0].SecurityContext, sc)
			}
		})
	}
}

func TestChartControllerHasADisruptionBudgetThatKeepsOneOfTwoReplicas(t *testing.T) {
	objs := render(t, "sparkcm-hook", "spark-jobs", "mode=controller")
	pdb := typed[policyv1.PodDisruptionBudget](t, one(t, objs, "PodDisruptionBudget"))
	d := controllerDeployment(t, objs)
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != intstr.FromInt32(1) || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB maxUnavailable %v minAvailable %v, want maxUnavailable 1 only", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	if pdb.Spec.Selector == nil || !reflect.DeepEqual(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB selects %v, the Deployment %v", pdb.Spec.Selector, d.Spec.Selector)
	}
}

// The Lease is granted by a Role in the release namespace and nowhere else:
// not in the ClusterRole a cluster-wide release binds in other namespaces.
func TestChartControllerGetsItsLeaseOnlyInTheReleaseNamespace(t *testing.T) {
	want := []permission{{leaseGroup, "leases", "create"}, {leaseGroup, "leases", "get"}, {leaseGroup, "leases", "update"}}
	for name, set := range map[string][]string{
		"namespaced":               {"mode=controller"},
		"cluster-wide, namespaces": {"mode=controller", "clusterWide.enabled=true", "clusterWide.namespaces={spark-a,spark-b}"},
		"cluster-wide, all":        {"mode=controller", "clusterWide.enabled=true"},
	} {
		t.Run(name, func(t *testing.T) {
			objs := render(t, "sparkcm-hook", "ops", set...)
			var leaseRoles []string
			for _, u := range find(objs, "Role") {
				role := typed[rbacv1.Role](t, u)
				perms := expand(role.Rules)
				if !slices.ContainsFunc(perms, func(p permission) bool { return p.group == leaseGroup }) {
					continue
				}
				leaseRoles = append(leaseRoles, role.Name)
				if role.Namespace != "ops" || !reflect.DeepEqual(perms, want) {
					t.Errorf("Role %s/%s grants %v, want only %v in the release namespace", role.Namespace, role.Name, perms, want)
				}
				bound := false
				for _, rb := range find(objs, "RoleBinding") {
					b := typed[rbacv1.RoleBinding](t, rb)
					if b.RoleRef.Kind == "Role" && b.RoleRef.Name == role.Name {
						bound = b.Namespace == "ops" && len(b.Subjects) == 1 && b.Subjects[0].Namespace == "ops"
					}
				}
				if !bound {
					t.Errorf("no RoleBinding in ops binds Role %s to the release's ServiceAccount", role.Name)
				}
			}
			if len(leaseRoles) != 1 {
				t.Errorf("Roles granting leases: %v, want exactly one", leaseRoles)
			}
			for _, u := range find(objs, "ClusterRole") {
				for _, p := range expand(typed[rbacv1.ClusterRole](t, u).Rules) {
					if p.group == leaseGroup {
						t.Errorf("ClusterRole %s grants %s: the Lease belongs only in the release namespace", u.GetName(), p)
					}
				}
			}
			d := controllerDeployment(t, objs)
			if env := envMap(d.Spec.Template.Spec.Containers[0].Env); env["POD_NAMESPACE"] != "fieldRef:metadata.namespace" {
				t.Errorf("POD_NAMESPACE=%q: the Lease's namespace must be the Pod's own", env["POD_NAMESPACE"])
			}
		})
	}
}

// Cluster-wide, one Deployment watches every listed namespace (or all).
func TestChartControllerClusterWideWatchesTheListedNamespacesOrAll(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		env  map[string]string
	}{
		{"namespaces", []string{"clusterWide.namespaces={spark-a,spark-b}"}, map[string]string{"SPARKCM_NAMESPACE": "spark-a,spark-b"}},
		{"all", nil, map[string]string{"SPARKCM_ALL_NAMESPACES": "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, "sparkcm-hook", "ops", append([]string{"mode=controller", "clusterWide.enabled=true"}, tc.set...)...)
			env := envMap(controllerDeployment(t, objs).Spec.Template.Spec.Containers[0].Env)
			for k, v := range tc.env {
				if env[k] != v {
					t.Errorf("%s=%q, want %q", k, env[k], v)
				}
			}
			for _, k := range []string{"SPARKCM_NAMESPACE", "SPARKCM_ALL_NAMESPACES"} {
				if _, want := tc.env[k]; !want && env[k] != "" {
					t.Errorf("%s=%q set as well", k, env[k])
				}
			}
		})
	}
	// The controller takes no --exclude-namespaces: refused at install, not ignored.
	out, err := runHelm(t, "template", "r", chartDir, "--set", "mode=controller", "--set", "clusterWide.enabled=true", "--set", "clusterWide.excludeNamespaces={prod}")
	if err == nil || !strings.Contains(err.Error(), "clusterWide.excludeNamespaces is for the CronJob") {
		t.Fatalf("want the render refused, got %v:\n%s", err, out)
	}
}

func TestChartHelmTestChecksTheControllersAccessInControllerMode(t *testing.T) {
	tests := renderTests(t, "sparkcm-hook", "spark-jobs", "mode=controller")
	if len(tests) != 1 {
		t.Fatalf("%d helm test objects, want 1", len(tests))
	}
	c := typed[batchv1.Job](t, tests[0]).Spec.Template.Spec.Containers[0]
	if want := []string{"rbac", "preflight", "--for", "controller"}; !reflect.DeepEqual(c.Args, want) {
		t.Errorf("helm test runs %q, want %q", c.Args, want)
	}
}

// The controller's Roles grant exactly what hook says the controller
// needs: its reads, deletes and Events in the Role (ClusterRole), its Lease
// in the Lease Role.
func TestChartControllerRolesAgreeWithThePermissionsInCode(t *testing.T) {
	isLease := func(a hook.Access) bool { return a.Group == leaseGroup }
	ctl := hook.PermissionsFor(hook.CommandController)
	lease := hook.RulesFor(isLease, ctl)
	if len(lease) == 0 {
		t.Fatal("hook.PermissionsFor(controller) lists no Lease access")
	}
	roles := func(objs []*unstructured.Unstructured) (main, leaseRole []rbacv1.PolicyRule) {
		for _, u := range find(objs, "Role") {
			r := typed[rbacv1.Role](t, u)
			if strings.HasSuffix(r.Name, "-lease") {
				leaseRole = r.Rules
			} else {
				main = r.Rules
			}
		}
		return main, leaseRole
	}
	for _, tc := range []struct {
		name string
		set  []string
		keep func(hook.Access) bool
	}{
		{"namespaced", nil, func(a hook.Access) bool { return !isLease(a) && !a.Optional && !a.WhenServed }},
		{"namespaced, Apache operator", []string{"apacheOperator.enabled=true"}, func(a hook.Access) bool { return !isLease(a) && !a.Optional }},
	} {
		main, leaseRole := roles(render(t, "sparkcm-hook", "spark-jobs", append([]string{"mode=controller"}, tc.set...)...))
		coversBothWays(t, "the controller's Role ("+tc.name+")", hook.RulesFor(tc.keep, ctl), main)
		coversBothWays(t, "the controller's Lease Role ("+tc.name+")", lease, leaseRole)
	}
	objs := render(t, "sparkcm-hook", "ops", "mode=controller", "clusterWide.enabled=true")
	cr := typed[rbacv1.ClusterRole](t, one(t, objs, "ClusterRole"))
	coversBothWays(t, "the controller's ClusterRole", hook.RulesFor(func(a hook.Access) bool { return !isLease(a) && !a.WhenServed }, ctl), cr.Rules)
	_, leaseRole := roles(objs)
	coversBothWays(t, "the cluster-wide controller's Lease Role", lease, leaseRole)
}
