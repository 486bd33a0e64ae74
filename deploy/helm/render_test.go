package helm_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestChartPassesStrictLint(t *testing.T) {
	for name, set := range map[string][]string{
		"defaults":                 nil,
		"dry run":                  {"sweep.dryRun=true"},
		"cluster-wide, namespaces": {"clusterWide.enabled=true", "clusterWide.namespaces={spark-a,spark-b}"},
		"cluster-wide, all":        {"clusterWide.enabled=true"},
		"cluster-wide, excluding":  {"clusterWide.enabled=true", "clusterWide.excludeNamespaces={kube-system,prod}"},
		"controller":               {"mode=controller"},
		"controller, cluster-wide": {"mode=controller", "clusterWide.enabled=true", "clusterWide.namespaces={spark-a,spark-b}"},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir, "--namespace", "spark-jobs"}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			if out, err := runHelm(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

func TestChartSchemaRejectsInvalidValues(t *testing.T) {
	for name, set := range map[string]string{
		"older-than not a Go duration":       "sweep.olderThan=3days",
		"namespace not a DNS label":          "clusterWide.namespaces={Spark_Jobs}",
		"unknown pull policy":                "image.pullPolicy=Sometimes",
		"zero concurrency":                   "sweep.concurrency=0",
		"excluded namespace not a DNS label": "clusterWide.excludeNamespaces={Kube_System}",
		"an unknown key":                     "imagee.tag=1.2.3",
		"an unknown key in a section":        "sweep.olderThen=1h",
		"an unknown image key":               "image.tags=1.2.3",
		"a digest that is not sha256":        "image.digest=latest",
		"an unknown mode":                    "mode=daemonset",
		"no controller replica":              "controller.replicas=0",
		"a grace that is not a duration":     "controller.grace=soon",
		"an unknown controller key":          "controller.replica=2",
		"a port out of range":                "controller.httpPort=70000",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm(t, "template", "r", chartDir, "--set", set)
			if err == nil {
				t.Fatalf("helm template --set %s rendered:\n%s", set, out)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Fatalf("want a schema error, got %v", err)
			}
		})
	}
}

func TestChartInstallsServiceAccountRoleBindingAndCronJobInReleaseNamespace(t *testing.T) {
	objs := render(t, "sparkcm-hook", "spark-jobs")
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind())
		if o.GetNamespace() != "spark-jobs" {
			t.Errorf("%s %s in namespace %q, want spark-jobs", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	slices.Sort(got)
	if want := []string{"CronJob", "Role", "RoleBinding", "ServiceAccount"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rendered kinds %v, want %v", got, want)
	}

	sa := typed[corev1.ServiceAccount](t, one(t, objs, "ServiceAccount"))
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount must not mount its token into every Pod by default")
	}
	rb := typed[rbacv1.RoleBinding](t, one(t, objs, "RoleBinding"))
	role := typed[rbacv1.Role](t, one(t, objs, "Role"))
	if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}) {
		t.Errorf("RoleBinding refers to %+v, want the Role %s", rb.RoleRef, role.Name)
	}
	wantSubject := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: "spark-jobs"}
	if !reflect.DeepEqual(rb.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("RoleBinding subjects %+v, want only %+v", rb.Subjects, wantSubject)
	}
}

func TestChartRoleGrantsExactlyTheDocumentedAccess(t *testing.T) {
	documented, clusterOnly := documentedPermissions(t)
	want := []permission{
		{"", "configmaps", "delete"}, {"", "configmaps", "get"}, {"", "configmaps", "list"}, {"", "configmaps", "patch"},
		{"", "events", "create"},
		{"", "pods", "get"}, {"", "pods", "list"}, {"", "pods", "watch"},
		{"sparkoperator.k8s.io", "sparkapplications", "get"}, {"sparkoperator.k8s.io", "sparkapplications", "list"}, {"sparkoperator.k8s.io", "sparkapplications", "watch"},
	}
	if !reflect.DeepEqual(documented, sortedPermissions(setOf(want))) {
		t.Fatalf("README documents %v,\nthe brief's least privilege is %v", documented, want)
	}
	if w := []permission{{"", "namespaces", "get"}}; !reflect.DeepEqual(clusterOnly, w) {
		t.Fatalf("README documents %v for the ClusterRole only, want %v", clusterOnly, w)
	}

	role := typed[rbacv1.Role](t, one(t, render(t, "sparkcm-hook", "spark-jobs"), "Role"))
	if got := expand(role.Rules); !reflect.DeepEqual(got, documented) {
		t.Errorf("Role grants %v,\nREADME documents %v", got, documented)
	}
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		for _, s := range append(append(r.APIGroups, r.Resources...), r.Verbs...) {
			if s == "*" {
				t.Errorf("wildcard in rule %+v", r)
			}
		}
	}

	cr := typed[rbacv1.ClusterRole](t, one(t, render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true"), "ClusterRole"))
	if got, w := expand(cr.Rules), sortedPermissions(setOf(append(want, clusterOnly...))); !reflect.DeepEqual(got, w) {
		t.Errorf("ClusterRole grants %v,\nREADME documents %v", got, w)
	}
}

func setOf(ps []permission) map[permission]bool {
	m := map[permission]bool{}
	for _, p := range ps {
		m[p] = true
	}
	return m
}

func TestChartCronJobIsHardenedAndRunsTheSweep(t *testing.T) {
	objs := render(t, "sparkcm-hook", "spark-jobs",
		"sweep.schedule=5 4 * * *", "sweep.olderThan=36h", "sweep.concurrency=8",
		"sweep.successfulJobsHistoryLimit=2", "sweep.failedJobsHistoryLimit=5",
		"image.repository=registry.example/sparkcm-hook", "image.tag=1.2.3", "image.pullPolicy=Always")
	cj := typed[batchv1.CronJob](t, one(t, objs, "CronJob"))
	sa := one(t, objs, "ServiceAccount").GetName()

	if cj.Spec.Schedule != "5 4 * * *" {
		t.Errorf("schedule %q", cj.Spec.Schedule)
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("concurrencyPolicy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if p := cj.Spec.SuccessfulJobsHistoryLimit; p == nil || *p != 2 {
		t.Errorf("successfulJobsHistoryLimit %v, want 2", p)
	}
	if p := cj.Spec.FailedJobsHistoryLimit; p == nil || *p != 5 {
		t.Errorf("failedJobsHistoryLimit %v, want 5", p)
	}

	job := cj.Spec.JobTemplate.Spec
	if job.PodFailurePolicy == nil || len(job.PodFailurePolicy.Rules) == 0 ||
		job.PodFailurePolicy.Rules[0].Action != batchv1.PodFailurePolicyActionFailJob ||
		!reflect.DeepEqual(job.PodFailurePolicy.Rules[0].OnExitCodes.Values, []int32{2, 3}) {
		t.Errorf("exit codes 2 and 3 must fail the Job without retries: %+v", job.PodFailurePolicy)
	}

	pod := job.Template.Spec
	if pod.ServiceAccountName != sa {
		t.Errorf("serviceAccountName %q, want the chart's %q", pod.ServiceAccountName, sa)
	}
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
		t.Error("the sweep Pod must mount its ServiceAccount token")
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %q, want Never", pod.RestartPolicy)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot ||
		psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want non-root 65532:65532 and seccomp RuntimeDefault", psc)
	}

	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if c.Image != "registry.example/sparkcm-hook:1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %q pull %q", c.Image, c.ImagePullPolicy)
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Privileged == nil || *sc.Privileged ||
		sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container securityContext %+v: want no privilege escalation, read-only root, drop ALL", sc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("resources.requests %v: want cpu and memory", c.Resources.Requests)
	}
	if lim := c.Resources.Limits.Memory(); lim.Cmp(resource.MustParse("64Mi")) < 0 {
		t.Errorf("memory limit %v: want at least the 64 MiB a 10k-map sweep may use", lim)
	}

	wantArgs := []string{"sweep", "--older-than=36h", "-o", "json", "--concurrency=8"}
	if !reflect.DeepEqual(c.Args, wantArgs) {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	if len(c.Command) != 0 {
		t.Errorf("command %q overrides the image's entrypoint", c.Command)
	}
	env := envMap(c.Env)
	if env["SPARKCM_LOG_FORMAT"] != "json" {
		t.Errorf("SPARKCM_LOG_FORMAT=%q, want json", env["SPARKCM_LOG_FORMAT"])
	}
	if env["SPARKCM_NAMESPACE"] != "fieldRef:metadata.namespace" {
		t.Errorf("SPARKCM_NAMESPACE=%q, want the Pod's own namespace", env["SPARKCM_NAMESPACE"])
	}
	if _, ok := env["SPARKCM_ALL_NAMESPACES"]; ok {
		t.Error("a namespaced install must not sweep all namespaces")
	}
}

func TestChartDryRunSwitchAddsDryRunFlag(t *testing.T) {
	for _, dry := range []bool{false, true} {
		set := "sweep.dryRun=false"
		if dry {
			set = "sweep.dryRun=true"
		}
		cj := typed[batchv1.CronJob](t, one(t, render(t, "r", "spark-jobs", set), "CronJob"))
		args := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args
		if got := slices.Contains(args, "--dry-run"); got != dry {
			t.Errorf("%s: args %q", set, args)
		}
	}
}

func TestChartClusterWideWithNamespacesBindsClusterRoleOnlyThere(t *testing.T) {
	long := "spark-" + strings.Repeat("x", 50)
	nss := []string{"spark-etl", "spark-ml", long + "-a", long + "-b"}
	objs := render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true", "clusterWide.namespaces={"+strings.Join(nss, ",")+"}")

	if n := len(find(objs, "Role")) + len(find(objs, "ClusterRoleBinding")); n != 0 {
		t.Errorf("want no Role and no ClusterRoleBinding with a namespace list: %v", kinds(objs))
	}
	cr := one(t, objs, "ClusterRole")
	sa := one(t, objs, "ServiceAccount")
	if sa.GetNamespace() != "ops" {
		t.Errorf("ServiceAccount in %q, want the release namespace", sa.GetNamespace())
	}

	bound := map[string]bool{}
	for _, u := range find(objs, "RoleBinding") {
		rb := typed[rbacv1.RoleBinding](t, u)
		bound[rb.Namespace] = true
		if rb.RoleRef.Kind != "ClusterRole" || rb.RoleRef.Name != cr.GetName() {
			t.Errorf("RoleBinding %s/%s refers to %+v", rb.Namespace, rb.Name, rb.RoleRef)
		}
		if want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.GetName(), Namespace: "ops"}}; !reflect.DeepEqual(rb.Subjects, want) {
			t.Errorf("RoleBinding %s/%s subjects %+v", rb.Namespace, rb.Name, rb.Subjects)
		}
	}
	if len(bound) != len(nss) {
		t.Errorf("RoleBindings in %v, want one in each of %v", bound, nss)
	}

	names := map[string]bool{}
	swept := map[string]bool{}
	for _, u := range find(objs, "CronJob") {
		cj := typed[batchv1.CronJob](t, u)
		if cj.Namespace != "ops" {
			t.Errorf("CronJob %s in %q, want the release namespace", cj.Name, cj.Namespace)
		}
		if len(cj.Name) > 52 {
			t.Errorf("CronJob name %q is longer than 52 characters", cj.Name)
		}
		names[cj.Name] = true
		env := envMap(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)
		swept[env["SPARKCM_NAMESPACE"]] = true
		if _, ok := env["SPARKCM_ALL_NAMESPACES"]; ok {
			t.Errorf("CronJob %s sweeps all namespaces", cj.Name)
		}
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("CronJob %s concurrencyPolicy %q", cj.Name, cj.Spec.ConcurrencyPolicy)
		}
	}
	if len(names) != len(nss) {
		t.Errorf("CronJob names %v: want %d distinct", names, len(nss))
	}
	for _, ns := range nss {
		if !swept[ns] {
			t.Errorf("no CronJob sweeps %s (swept: %v)", ns, swept)
		}
	}
}

func TestChartClusterWideWithoutNamespacesSweepsAll(t *testing.T) {
	objs := render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true")
	if n := len(find(objs, "Role")) + len(find(objs, "RoleBinding")); n != 0 {
		t.Errorf("want no Role or RoleBinding: %v", kinds(objs))
	}
	cr := one(t, objs, "ClusterRole")
	if !strings.HasPrefix(cr.GetName(), "ops-") {
		t.Errorf("ClusterRole %q: want it qualified by the release namespace", cr.GetName())
	}
	crb := typed[rbacv1.ClusterRoleBinding](t, one(t, objs, "ClusterRoleBinding"))
	sa := one(t, objs, "ServiceAccount")
	if crb.RoleRef.Name != cr.GetName() || len(crb.Subjects) != 1 || crb.Subjects[0].Name != sa.GetName() || crb.Subjects[0].Namespace != "ops" {
		t.Errorf("ClusterRoleBinding %+v", crb)
	}
	cj := typed[batchv1.CronJob](t, one(t, objs, "CronJob"))
	env := envMap(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)
	if env["SPARKCM_ALL_NAMESPACES"] != "true" {
		t.Errorf("SPARKCM_ALL_NAMESPACES=%q, want true", env["SPARKCM_ALL_NAMESPACES"])
	}
	if _, ok := env["SPARKCM_NAMESPACE"]; ok {
		t.Error("an all-namespaces sweep must not also name a namespace")
	}
}

func TestChartClusterWideSweepExcludesTheNamespacesGiven(t *testing.T) {
	objs := render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true", "clusterWide.excludeNamespaces={kube-system,prod}")
	cj := typed[batchv1.CronJob](t, one(t, objs, "CronJob"))
	env := envMap(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)
	if env["SPARKCM_ALL_NAMESPACES"] != "true" || env["SPARKCM_EXCLUDE_NAMESPACES"] != "kube-system,prod" {
		t.Errorf("SPARKCM_ALL_NAMESPACES=%q SPARKCM_EXCLUDE_NAMESPACES=%q, want true and kube-system,prod", env["SPARKCM_ALL_NAMESPACES"], env["SPARKCM_EXCLUDE_NAMESPACES"])
	}
	plain := typed[batchv1.CronJob](t, one(t, render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true"), "CronJob"))
	if _, set := envMap(plain.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env)["SPARKCM_EXCLUDE_NAMESPACES"]; set {
		t.Error("without excludeNamespaces the CronJob must not set SPARKCM_EXCLUDE_NAMESPACES")
	}
	// The CLI refuses an exclusion without -A (exit 2); the chart says so
	// at install time instead of making a CronJob that always fails.
	for name, set := range map[string][]string{
		"not cluster-wide":          {"clusterWide.excludeNamespaces={prod}"},
		"cluster-wide by namespace": {"clusterWide.enabled=true", "clusterWide.namespaces={spark-a}", "clusterWide.excludeNamespaces={prod}"},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"template", "r", chartDir}
			for _, s := range set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			if err == nil || !strings.Contains(err.Error(), "excludeNamespaces applies only") {
				t.Fatalf("want the render refused, got %v:\n%s", err, out)
			}
		})
	}
}

// envMap flattens a container's env; a field reference reads "fieldRef:<path>".
func envMap(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			m[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom != nil:
			m[e.Name] = "valueFrom"
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

// image.digest pins the image: the CronJob and the helm test run exactly
// that image, whatever the tag says.
func TestChartPinsTheImageByDigest(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	set := []string{"image.repository=registry.example/sparkcm-hook", "image.tag=1.2.3", "image.digest=" + digest}
	cj := typed[batchv1.CronJob](t, one(t, render(t, "sparkcm-hook", "spark-jobs", set...), "CronJob"))
	tests := renderTests(t, "sparkcm-hook", "spark-jobs", set...)
	if len(tests) != 1 {
		t.Fatalf("%d helm test objects, want 1", len(tests))
	}
	job := typed[batchv1.Job](t, tests[0])
	for what, image := range map[string]string{
		"CronJob":   cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image,
		"helm test": job.Spec.Template.Spec.Containers[0].Image,
	} {
		if image != "registry.example/sparkcm-hook@"+digest {
			t.Errorf("%s image %q, want registry.example/sparkcm-hook@%s", what, image, digest)
		}
	}
}

// helm test runs one Job per sweep: `rbac preflight --for sweep` as the
// chart's ServiceAccount, over the same namespaces as its sweep.
func TestChartHelmTestRunsPreflightForSweepAsTheServiceAccount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     []string
		wantEnv []map[string]string
	}{
		{"namespaced", nil, []map[string]string{{"SPARKCM_NAMESPACE": "fieldRef:metadata.namespace"}}},
		{"cluster-wide, namespaces", []string{"clusterWide.enabled=true", "clusterWide.namespaces={spark-a,spark-b}"},
			[]map[string]string{{"SPARKCM_NAMESPACE": "spark-a"}, {"SPARKCM_NAMESPACE": "spark-b"}}},
		{"cluster-wide, all", []string{"clusterWide.enabled=true"}, []map[string]string{{"SPARKCM_ALL_NAMESPACES": "true"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa := one(t, render(t, "sparkcm-hook", "spark-jobs", tc.set...), "ServiceAccount").GetName()
			tests := renderTests(t, "sparkcm-hook", "spark-jobs", tc.set...)
			if len(tests) != len(tc.wantEnv) {
				t.Fatalf("%d helm test objects, want %d", len(tests), len(tc.wantEnv))
			}
			for i, o := range tests {
				job := typed[batchv1.Job](t, o)
				pod := job.Spec.Template.Spec
				c := pod.Containers[0]
				if pod.ServiceAccountName != sa || pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
					t.Errorf("test Job %s runs as %q (token mounted: %v), want the chart's %q with its token", job.Name, pod.ServiceAccountName, pod.AutomountServiceAccountToken, sa)
				}
				if !reflect.DeepEqual(c.Args, []string{"rbac", "preflight", "--for", "sweep"}) || len(c.Command) != 0 {
					t.Errorf("test Job %s runs %q %q, want the image's entrypoint with rbac preflight --for sweep", job.Name, c.Command, c.Args)
				}
				env := envMap(c.Env)
				for k, v := range tc.wantEnv[i] {
					if env[k] != v {
						t.Errorf("test Job %s: %s=%q, want %q", job.Name, k, env[k], v)
					}
				}
				if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever {
					t.Errorf("test Job %s retries: a denied verb must fail it at once", job.Name)
				}
			}
		})
	}
}
