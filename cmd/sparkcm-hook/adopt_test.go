package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

func TestAdoptIsADryRunUntilApplyThenWritesOnceAndSaysSo(t *testing.T) {
	ns := cp.NewNamespace(t)
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns)
	newApp(t, ns, sparkfixture.Spec{Name: "etl", UserSparkConfigMap: "defaults"})
	newApp(t, ns, sparkfixture.Spec{Name: "report", UserSparkConfigMap: "defaults", UserHadoopConfigMap: "site"})
	kube, _ := clients(t)
	site, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "site", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	site.Annotations = map[string]string{"sparkcm-hook/keep": "true"}
	if _, err := kube.CoreV1().ConfigMaps(ns).Update(context.Background(), site, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	owners := "(owners: etl (spec.sparkConfigMap), report (spec.sparkConfigMap))"
	steps := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"adopt", "--kubeconfig", kc}, "",
			ns + "/defaults: would adopt " + owners + "\n" + ns + `/site: skipped: sparkcm-hook/keep: "true"` + "\n0 adopted, 1 would adopt, 0 already adopted, 1 skipped, 0 failed (dry run: --apply writes)\n"},
		{[]string{"adopt", "--kubeconfig", kc, "--apply"}, "",
			ns + "/defaults: adopted " + owners + "\n" + ns + `/site: skipped: sparkcm-hook/keep: "true"` + "\n1 adopted, 0 would adopt, 0 already adopted, 1 skipped, 0 failed\n"},
		{[]string{"adopt", "--kubeconfig", kc}, "true", // SPARKCM_APPLY, as every flag has its variable
			ns + "/defaults: already adopted " + owners + "\n" + ns + `/site: skipped: sparkcm-hook/keep: "true"` + "\n0 adopted, 0 would adopt, 1 already adopted, 1 skipped, 0 failed\n"},
	}
	for i, s := range steps {
		if s.env != "" {
			t.Setenv("SPARKCM_APPLY", s.env)
		}
		r := runCLI(t, s.args...)
		if r.code != 0 || r.stdout != s.want {
			t.Fatalf("step %d %v: exit %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", i, s.args, r.code, r.stdout, s.want, r.stderr)
		}
	}
	// -o json holds the same decisions, one object per map (SPARKCM_APPLY
	// still says apply: nothing is left to write).
	r := runCLI(t, "adopt", "--kubeconfig", kc, "-o", "json")
	var res hook.AdoptResult
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil {
		t.Fatalf("-o json: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if len(res.Maps) != 2 || res.Count(hook.AlreadyAdopted) != 1 || res.Count(hook.AdoptSkipped) != 1 || !res.Apply {
		t.Errorf("-o json: want defaults already adopted and site skipped, applying, got %+v", res)
	}
	m, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "defaults", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.OwnerReferences) != 2 {
		t.Errorf("want two owners, got %+v", m.OwnerReferences)
	}
}

func TestAdoptRefusesBadInputWithExitTwo(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"-n and -A":         {[]string{"adopt", "-n", "a", "-A"}, "error: give -n NAMESPACE or -A, not both"},
		"argument":          {[]string{"adopt", "extra"}, `error: adopt takes no arguments, got "extra"`},
		"negative timeout":  {[]string{"adopt", "--timeout", "-1s"}, "error: --timeout must not be negative"},
		"zero retry budget": {[]string{"adopt", "--retry-budget", "0s"}, "error: --retry-budget must be positive"},
		"two namespaces":    {[]string{"adopt", "-n", "a,b"}, "error: adopt works in one namespace; -n was given 2: a, b"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, append(c.args, "--kubeconfig", "/nonexistent")...)
			if r.code != 2 || r.stdout != "" || strings.TrimSpace(r.stderr) != c.want {
				t.Errorf("want exit 2, nothing on stdout and %q, got %d %q %q", c.want, r.code, r.stdout, r.stderr)
			}
		})
	}
}
