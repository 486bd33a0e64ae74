package helm_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/hook/policy"
)

var admissionKinds = map[string]bool{
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	"MutatingAdmissionPolicy": true, "MutatingAdmissionPolicyBinding": true,
}

// The chart's admission policies are what `sparkcm-hook policy` prints for
// the same options, object for object and field for field, the chart's
// labels aside: a change to either that the other lacks fails here.
func TestChartAdmissionPolicyIsWhatThePolicyCommandPrints(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		opts policy.Options
	}{
		{"warn everywhere", nil, policy.Options{Action: "warn"}},
		{"deny in two namespaces", []string{"admissionPolicy.action=deny", "admissionPolicy.namespaces={spark-jobs,etl}"},
			policy.Options{Action: "deny", Namespaces: []string{"spark-jobs", "etl"}}},
		{"audit with a default TTL", []string{"admissionPolicy.action=audit", "admissionPolicy.defaultTTL=86400"},
			policy.Options{Action: "audit", DefaultTTL: 24 * time.Hour}},
		{"warn in one namespace with a default TTL", []string{"admissionPolicy.namespaces={spark-jobs}", "admissionPolicy.defaultTTL=3600"},
			policy.Options{Action: "warn", Namespaces: []string{"spark-jobs"}, DefaultTTL: time.Hour}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			printed, err := policy.YAML(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			want, err := decodeManifests(string(printed))
			if err != nil {
				t.Fatal(err)
			}
			var got []map[string]any
			for _, o := range render(t, "sparkcm-hook", "spark-jobs", append([]string{"admissionPolicy.enabled=true"}, c.set...)...) {
				if !admissionKinds[o.GetKind()] {
					continue
				}
				if o.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
					t.Errorf("%s %s: no chart labels", o.GetKind(), o.GetName())
				}
				o.SetLabels(nil)
				got = append(got, o.Object)
			}
			if len(got) != len(want) {
				t.Fatalf("chart renders %d admission objects, policy prints %d", len(got), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i].Object) {
					g, _ := yaml.Marshal(got[i])
					w, _ := yaml.Marshal(want[i].Object)
					t.Errorf("object %d differs from `sparkcm-hook policy`:\nchart:\n%s\npolicy:\n%s", i, g, w)
				}
			}
		})
	}
}

func TestChartInstallsNoAdmissionPolicyUnlessEnabled(t *testing.T) {
	for _, o := range render(t, "sparkcm-hook", "spark-jobs", "admissionPolicy.defaultTTL=60") {
		if admissionKinds[o.GetKind()] {
			t.Errorf("rendered %s %s with admissionPolicy.enabled=false", o.GetKind(), o.GetName())
		}
	}
}

func TestChartSchemaRejectsInvalidAdmissionPolicyValues(t *testing.T) {
	for name, set := range map[string]string{
		"unknown action":          "admissionPolicy.action=block",
		"negative default TTL":    "admissionPolicy.defaultTTL=-1",
		"default TTL as duration": "admissionPolicy.defaultTTL=24h",
		"namespace not a label":   "admissionPolicy.namespaces={Spark_Jobs}",
		"unknown key":             "admissionPolicy.enable=true",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm(t, "template", "r", chartDir, "--set", "admissionPolicy.enabled=true", "--set", set)
			if err == nil {
				t.Fatalf("helm template --set %s rendered:\n%s", set, out)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Fatalf("want a schema error, got %v", fmt.Sprint(err))
			}
		})
	}
}
