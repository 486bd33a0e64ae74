package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The artefacts whose bytes depend only on the commit. The chart (helm
// package dates its archive) and the sdist (Python's tarfile dates its gzip
// header) are not among them; their contents are checked instead.
var reproducible = regexp.MustCompile(`^(sparkcm-hook-linux-amd64(\.cdx\.json)?|kubectl-sparkcm-linux-amd64\.tar\.gz|sparkcm\.yaml|sparkcm-hook-image-.*\.oci\.tar|sparkcm_airflow-.*\.whl)$`)

// make dist from a lone clone of HEAD (nothing else from this checkout)
// gives every artefact, and building it again, with an empty Go build cache
// so that nothing cached can hide a difference, gives the same bytes. One
// platform here (make dist builds four): each cold cross build costs
// minutes on the 2-core machine make test runs on.
func TestDistFromALoneCloneIsCompleteAndReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release twice")
	}
	root := repoRoot(t)
	want := theVersion(t, root)
	clone := filepath.Join(t.TempDir(), "clone")
	if out, err := exec.Command("git", "clone", "--quiet", "--no-tags", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	dist := func(out string, env ...string) map[string]string {
		t.Helper()
		cmd := exec.Command(filepath.Join(clone, "hack", "dist.sh"))
		cmd.Dir = clone
		cmd.Env = append(os.Environ(), append([]string{"DIST_DIR=" + out, "DIST_PLATFORMS=linux/amd64"}, env...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("hack/dist.sh: %v\n%s", err, stderr.String())
		}
		return sums(t, out)
	}
	first := filepath.Join(t.TempDir(), "dist1")
	sums1 := dist(first)

	out, err := exec.Command(filepath.Join(clone, "hack", "version.sh")).Output()
	if err != nil {
		t.Fatal(err)
	}
	version := regexp.MustCompile(`(?m)^version=(.*)$`).FindStringSubmatch(string(out))[1]
	if !strings.HasPrefix(version, want) {
		t.Fatalf("hack/version.sh says %q, VERSION %q", version, want)
	}
	for _, name := range []string{
		"sparkcm-hook-linux-amd64", "sparkcm-hook-linux-amd64.cdx.json", "kubectl-sparkcm-linux-amd64.tar.gz", "sparkcm.yaml",
		"sparkcm-hook-image-" + version + ".oci.tar", "sparkcm-hook-" + version + ".tgz",
		"sparkcm_airflow-" + want + "-py3-none-any.whl", "sparkcm_airflow-" + want + ".tar.gz",
	} {
		if _, ok := sums1[name]; !ok {
			t.Errorf("dist has no %s (has %v)", name, keys(sums1))
		}
	}

	// The binary says the version; the SBOM is CycloneDX and names it.
	got, err := exec.Command(filepath.Join(first, "sparkcm-hook-linux-amd64"), "version").Output()
	if err != nil || !strings.HasPrefix(string(got), "sparkcm-hook "+version+" (commit ") {
		t.Errorf("version: %q (%v), want sparkcm-hook %s (commit ...", got, err, version)
	}
	var sbom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
		Components []json.RawMessage `json:"components"`
	}
	if b, err := os.ReadFile(filepath.Join(first, "sparkcm-hook-linux-amd64.cdx.json")); err != nil || json.Unmarshal(b, &sbom) != nil ||
		sbom.BOMFormat != "CycloneDX" || sbom.Metadata.Component.Version != "v"+version || len(sbom.Components) == 0 {
		t.Errorf("SBOM: %+v (%v)", sbom, err)
	}

	// The krew manifest's sha256 is the archive's, and the archive holds
	// the binary as kubectl-sparkcm.
	var plugin struct {
		APIVersion, Kind string
		Spec             struct {
			Version   string
			Platforms []struct {
				URI, Sha256, Bin string
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(first, "sparkcm.yaml")); err != nil || yaml.Unmarshal(b, &plugin) != nil {
		t.Fatalf("sparkcm.yaml: %v", err)
	}
	if plugin.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || plugin.Kind != "Plugin" || plugin.Spec.Version != "v"+version ||
		len(plugin.Spec.Platforms) != 1 || plugin.Spec.Platforms[0].Sha256 != sums1["kubectl-sparkcm-linux-amd64.tar.gz"] ||
		plugin.Spec.Platforms[0].Bin != "kubectl-sparkcm" || !strings.HasSuffix(plugin.Spec.Platforms[0].URI, "/v"+version+"/kubectl-sparkcm-linux-amd64.tar.gz") {
		t.Errorf("krew manifest: %+v\nsums: %v", plugin, sums1)
	}
	if members := tarMembers(t, filepath.Join(first, "kubectl-sparkcm-linux-amd64.tar.gz")); members["kubectl-sparkcm"] != sums1["sparkcm-hook-linux-amd64"] || members["LICENSE"] == "" {
		t.Errorf("krew archive holds %v", members)
	}

	second := filepath.Join(t.TempDir(), "dist2")
	sums2 := dist(second, "GOCACHE="+t.TempDir(), "DIST_PARTS=bin image python")
	checked := 0
	for name, sum := range sums1 {
		if !reproducible.MatchString(name) {
			continue
		}
		checked++
		if sums2[name] != sum {
			t.Errorf("%s differs between two builds of one commit: %s, then %s", name, sum, sums2[name])
		}
	}
	if checked != 6 {
		t.Errorf("compared %d artefacts, want 6: %v", checked, keys(sums1))
	}
}

// sums reads SHA256SUMS and checks it against the files it names.
func sums(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Fatalf("SHA256SUMS says %s for %s, the file's is %x", sum, name, h)
		}
		m[name] = sum
	}
	return m
}

// tarMembers maps each file in a .tar.gz to its sha256.
func tarMembers(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	m := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m
		}
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			t.Fatal(err)
		}
		m[strings.TrimPrefix(h.Name, "./")] = hex.EncodeToString(sum.Sum(nil))
	}
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}
