package release

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/sparkcm-hook/sparkcm-hook/internal/kubecluster"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := kubecluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readFile(t *testing.T, root, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// theVersion is the VERSION file: the one version everything else follows.
func theVersion(t *testing.T, root string) string {
	t.Helper()
	v := strings.TrimSpace(readFile(t, root, "VERSION"))
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Fatalf("VERSION holds %q, want MAJOR.MINOR.PATCH", v)
	}
	return v
}

// firstMatch returns the first submatch of re in the file, failing when
// there is none: a version the test cannot find is not a version it checked.
func firstMatch(t *testing.T, root, rel string, re *regexp.Regexp) string {
	t.Helper()
	m := re.FindStringSubmatch(readFile(t, root, rel))
	if m == nil {
		t.Fatalf("%s: no match for %s", rel, re)
	}
	return m[1]
}

// Every version a user reads (the chart's version and appVersion, which is
// the image tag it pulls, the Airflow package's, and the image the examples
// and READMEs run) is the VERSION file's, which also stamps the binary and
// names the image (hack/version.sh).
func TestEveryVersionIsTheVersionFile(t *testing.T) {
	root := repoRoot(t)
	want := theVersion(t, root)

	var chart struct {
		Version    string `json:"version"`
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, root, "deploy/helm/sparkcm-hook/Chart.yaml")), &chart); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"deploy/helm/sparkcm-hook/Chart.yaml version":    chart.Version,
		"deploy/helm/sparkcm-hook/Chart.yaml appVersion": chart.AppVersion,
		"airflow/pyproject.toml version": firstMatch(t, root, "airflow/pyproject.toml",
			regexp.MustCompile(`(?m)^version = "([^"]*)"`)),
		"airflow/sparkcm_airflow/__init__.py __version__": firstMatch(t, root, "airflow/sparkcm_airflow/__init__.py",
			regexp.MustCompile(`(?m)^__version__ = "([^"]*)"`)),
	}

	// The image the examples and READMEs run, and the tag they set.
	imageRef := regexp.MustCompile(`sparkcm-hook:(v?[0-9][0-9A-Za-z.+-]*)`)
	tagSet := regexp.MustCompile(`image\.tag=(v?[0-9][0-9A-Za-z.+-]*)`)
	distFile := regexp.MustCompile(`sparkcm-hook-(?:image-)?(v?[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*?)\.(?:tgz|oci\.tar)`)
	docs := []string{"README.md", "airflow/README.md", "deploy/helm/sparkcm-hook/README.md"}
	examples, err := filepath.Glob(filepath.Join(root, "airflow", "examples", "*"))
	if err != nil {
		t.Fatal(err)
	}
	exampleRefs := 0
	for _, abs := range examples {
		rel, _ := filepath.Rel(root, abs)
		docs = append(docs, rel)
	}
	for _, rel := range docs {
		text := readFile(t, root, rel)
		for _, re := range []*regexp.Regexp{imageRef, tagSet, distFile} {
			for i, m := range re.FindAllStringSubmatch(text, -1) {
				got[rel+" "+strings.TrimSuffix(m[0], m[1])+" #"+string(rune('1'+i))] = strings.TrimSuffix(m[1], ".")
				if strings.HasPrefix(rel, "airflow/examples/") {
					exampleRefs++
				}
			}
		}
	}
	if exampleRefs == 0 {
		t.Fatal("no sparkcm-hook:VERSION image in airflow/examples: the test no longer sees the examples' version")
	}
	for where, v := range got {
		if v != want {
			t.Errorf("%s is %q, want %q (the VERSION file)", where, v, want)
		}
	}
}

// hack/version.sh stamps every build: the tagged release gets VERSION
// itself, anything else VERSION plus its commit, and a v* tag on HEAD that
// disagrees with VERSION is refused, so a release can never carry two
// versions. Runs git in a throwaway clone of HEAD.
func TestVersionStampsFollowTheTagAndRefuseOneThatDisagrees(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git and hack/version.sh")
	}
	root := repoRoot(t)
	want := theVersion(t, root)
	dir := filepath.Join(t.TempDir(), "clone")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", dir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command("git", "clone", "--quiet", "--no-tags", root, dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	stamp := func() (string, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(dir, "hack", "version.sh"))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	out, _, err := stamp()
	if err != nil || !regexp.MustCompile(`(?m)^version=`+regexp.QuoteMeta(want)+`-dev\.g[0-9a-f]{12}$`).MatchString(out) {
		t.Fatalf("untagged: want version=%s-dev.<commit>, got %q (%v)", want, out, err)
	}
	if !regexp.MustCompile(`(?m)^commit=[0-9a-f]{40}\ndate=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$`).MatchString(out) {
		t.Fatalf("want the commit and its date, got %q", out)
	}

	git("tag", "v"+want)
	if out, _, err := stamp(); err != nil || !strings.Contains(out, "version="+want+"\n") {
		t.Fatalf("tagged v%s: want version=%s, got %q (%v)", want, want, out, err)
	}

	git("tag", "v9.9.9")
	out, stderr, err := stamp()
	if err == nil || !strings.Contains(stderr, "tag v9.9.9 on HEAD disagrees with VERSION "+want) {
		t.Fatalf("a tag v9.9.9 beside VERSION %s was not refused: %v\nstdout %q\nstderr %q", want, err, out, stderr)
	}
}
