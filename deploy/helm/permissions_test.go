package helm_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// coversBothWays fails unless each rule set grants everything the other
// does: code is the table in hook, other what the chart renders.
func coversBothWays(t *testing.T, what string, code, other []rbacv1.PolicyRule) {
	t.Helper()
	if ok, extra := validation.Covers(code, other); !ok {
		t.Errorf("%s grants %v, which hook.Permissions does not list", what, extra)
	}
	if ok, missing := validation.Covers(other, code); !ok {
		t.Errorf("%s lacks %v, which hook.Permissions lists", what, missing)
	}
}

// TestChartRoleAndREADMEAgreeWithThePermissionsInCode holds the three
// statements of what the commands need to one source: hook.Permissions.
// The chart's Role (rendered by the real helm) and its ClusterRole grant
// exactly the table's required access (plus the optional namespace read in
// the ClusterRole); the README's RBAC table lists exactly the table.
func TestChartRoleAndREADMEAgreeWithThePermissionsInCode(t *testing.T) {
	role := typed[rbacv1.Role](t, one(t, render(t, "sparkcm-hook", "spark-jobs"), "Role"))
	coversBothWays(t, "the chart's Role", hook.RoleRules(), role.Rules)

	cr := typed[rbacv1.ClusterRole](t, one(t, render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true"), "ClusterRole"))
	coversBothWays(t, "the chart's ClusterRole", hook.RulesFor(func(a hook.Access) bool { return !a.WhenServed }, hook.Permissions()), cr.Rules)

	// The Apache operator's verbs, behind their value, in the Role and the ClusterRole alike.
	role = typed[rbacv1.Role](t, one(t, render(t, "sparkcm-hook", "spark-jobs", "apacheOperator.enabled=true"), "Role"))
	coversBothWays(t, "the chart's Role with apacheOperator.enabled", append(hook.RoleRules(), hook.WhenServedRules()...), role.Rules)
	cr = typed[rbacv1.ClusterRole](t, one(t, render(t, "sparkcm-hook", "ops", "clusterWide.enabled=true", "apacheOperator.enabled=true"), "ClusterRole"))
	coversBothWays(t, "the chart's ClusterRole with apacheOperator.enabled", hook.RulesFor(func(hook.Access) bool { return true }, hook.Permissions()), cr.Rules)
	// ... and without the value where the cluster serves the group at install.
	for _, v := range []string{"spark.apache.org/v1", "spark.apache.org/v1beta1"} {
		role = typed[rbacv1.Role](t, one(t, renderArgs(t, "sparkcm-hook", "spark-jobs", []string{"--skip-tests", "--api-versions", v}), "Role"))
		coversBothWays(t, "the chart's Role where the cluster serves "+v, append(hook.RoleRules(), hook.WhenServedRules()...), role.Rules)
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	got := readmeRBAC(t, string(readme))
	want := map[string]string{}
	for _, a := range hook.Permissions() {
		key := a.Resource
		if a.Group != "" {
			key += "." + a.Group
		}
		v := want[key]
		if v != "" {
			v += ", "
		}
		want[key] = v + a.Verb
		if a.Optional {
			want[key] += " (optional"
		}
	}
	for k, v := range want {
		if strings.Contains(v, "(optional") {
			want[k] = strings.Replace(v, " (optional", "", 1) + " (optional)"
		}
	}
	// The controller's own access: on a resource the table already lists,
	// after "; `controller`:" in its row; else a row of its own.
	base := map[string]bool{}
	for k := range want {
		base[k] = true
	}
	extra := map[string]string{}
	for _, a := range hook.ControllerPermissions() {
		key := a.Resource
		if a.Group != "" {
			key += "." + a.Group
		}
		if base[key] {
			extra[key] = strings.TrimPrefix(extra[key]+", "+a.Verb, ", ")
			continue
		}
		want[key] = strings.TrimPrefix(want[key]+", "+a.Verb, ", ")
	}
	for k, v := range extra {
		want[k] += "; controller: " + v
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("README's RBAC table %v,\nhook.Permissions and ControllerPermissions %v", got, want)
	}
}

var rbacRow = regexp.MustCompile("^\\| `([a-z0-9.]+)` \\| ([a-z]+(?:, [a-z]+)*)( \\(optional)?(?:; `controller`: ([a-z]+(?:, [a-z]+)*))?[^|]*\\|")

// readmeRBAC reads the README's "### RBAC" table: resource -> "verbs" with
// " (optional)" for the optional rows and "; controller: verbs" for what
// only the controller adds on that resource.
func readmeRBAC(t *testing.T, readme string) map[string]string {
	t.Helper()
	_, section, ok := strings.Cut(readme, "\n### RBAC\n")
	if !ok {
		t.Fatal(`README.md has no "### RBAC" section`)
	}
	out := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		m := rbacRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[2])
		if m[3] != "" {
			v += " (optional)"
		}
		if m[4] != "" {
			v += "; controller: " + m[4]
		}
		out[m[1]] = v
	}
	if len(out) == 0 {
		t.Fatal("README.md's RBAC section has no table rows")
	}
	return out
}
