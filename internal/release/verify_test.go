package release

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// make verify checks go.sum in every Go module of the repository, the
// tools' too: a module it skipped could build from a modified download.
// The recipe runs with a stand-in for go that records where it was run.
func TestMakeVerifyCoversEveryGoModule(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make")
	}
	root := repoRoot(t)
	var want []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.Name() == "go.mod" {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			want = append(want, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "dirs")
	fakeGo := filepath.Join(t.TempDir(), "go")
	script := "#!/bin/sh\n[ \"$*\" = \"mod verify\" ] || { echo \"unexpected: go $*\" >&2; exit 1; }\npwd >> " + log + "\n"
	if err := os.WriteFile(fakeGo, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "verify", "GO="+fakeGo)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make verify: %v\n%s", err, out)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, dir := range strings.Fields(string(b)) {
		rel, _ := filepath.Rel(root, dir)
		got = append(got, rel)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("make verify ran go mod verify in %v; the repository's modules are %v", got, want)
	}
}
