// Package helm_test lints and renders the Helm chart with the real helm CLI and applies it to a
// real control plane.
package helm_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "sparkcm-hook"

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary returns the helm CLI: $SPARKCM_HELM, else the one hack/helm.sh builds (and caches).
// A missing helm fails the test: the chart is only proved by the real renderer.
func helmBinary(t *testing.T) string {
	t.Helper()
	kubecluster.SkipIfShort(t) // the short tier starts no process
	helmOnce.Do(func() {
		if p := os.Getenv("SPARKCM_HELM"); p != "" {
			helmPath = p
			return
		}
		var stderr bytes.Buffer
		cmd := exec.Command("bash", filepath.Join("..", "..", "hack", "helm.sh"))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			helmErr = fmt.Errorf("hack/helm.sh: %w\n%s", err, stderr.String())
			return
		}
		helmPath = strings.TrimSpace(string(out))
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// runHelm runs helm with its own empty home folders, so no user's repositories or plugins leak in.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// render runs `helm template` for a release in namespace ns with the given --set values and
// returns the objects helm install creates (not the helm test Jobs) in the order helm printed them.
func render(t *testing.T, release, ns string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	return renderArgs(t, release, ns, []string{"--skip-tests"}, set...)
}

// renderTests returns only what `helm test` runs.
func renderTests(t *testing.T, release, ns string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	all := renderArgs(t, release, ns, nil, set...)
	var tests []*unstructured.Unstructured
	for _, o := range all {
		if o.GetAnnotations()["helm.sh/hook"] == "test" {
			tests = append(tests, o)
		}
	}
	return tests
}

func renderArgs(t *testing.T, release, ns string, extra []string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", ns}, extra...)
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifests(out)
	if err != nil {
		t.Fatalf("decode helm template output: %v\n%s", err, out)
	}
	return objs
}

// decodeManifests splits a multi-document YAML stream into objects, skipping empty documents.
func decodeManifests(manifest string) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
}

// find returns the rendered objects of one kind.
func find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single rendered object of a kind, failing the test on none or several.
func one(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	got := find(objs, kind)
	if len(got) != 1 {
		t.Fatalf("want exactly one %s, rendered %d (kinds: %v)", kind, len(got), kinds(objs))
	}
	return got[0]
}

func kinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	return ks
}

// typed converts a rendered object into its API type, rejecting any field the type does not
// have: a misspelt field in a template fails here instead of being dropped by the API server.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// permission is one (API group, resource, verb) the ServiceAccount may use.
type permission struct{ group, resource, verb string }

func (p permission) String() string {
	g := p.group
	if g == "" {
		g = "core"
	}
	return p.verb + " " + p.resource + "." + g
}

// expand flattens RBAC rules into sorted single permissions, so two rule lists that grant the
// same compare equal however they are grouped.
func expand(rules []rbacv1.PolicyRule) []permission {
	seen := map[permission]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					seen[permission{g, res, v}] = true
				}
			}
		}
	}
	return sortedPermissions(seen)
}

func sortedPermissions(set map[permission]bool) []permission {
	out := make([]permission, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

var readmeRow = regexp.MustCompile("^\\| `([^`]*)` \\| `([a-z]+)` \\| ([a-z, ]+) \\|")

// documentedPermissions reads the chart README's "API access" table: the permissions the chart
// promises. clusterOnly are the rows that only the ClusterRole holds.
func documentedPermissions(t *testing.T) (namespaced, clusterOnly []permission) {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ns, cl := map[permission]bool{}, map[permission]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		m := readmeRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		group := strings.Trim(m[1], `"`)
		if strings.Contains(line, "apacheOperator.enabled") {
			continue // not in the default Role: see TestChartRoleGrantsTheApacheVerbsBehindAValue
		}
		if strings.Contains(line, "Controller mode only") {
			continue // not in the default Role: see controller_test.go
		}
		target := ns
		if strings.Contains(line, "ClusterRole only") {
			target = cl
		}
		for _, v := range strings.Split(m[3], ",") {
			target[permission{group, m[2], strings.TrimSpace(v)}] = true
		}
	}
	if len(ns) == 0 {
		t.Fatal("README.md has no API access table rows")
	}
	return sortedPermissions(ns), sortedPermissions(cl)
}
