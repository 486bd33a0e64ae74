package release

import "testing"

// readmeLimit bounds README.md: it is read by someone who wants the tool
// installed and running, and what they need fits in it. The developer's
// material lives in CONTRIBUTING.md, the long reference in docs/.
const readmeLimit = 15_000 // bytes

func TestREADMEStaysShortEnoughToInstallFrom(t *testing.T) {
	root := repoRoot(t)
	readme := readFile(t, root, "README.md")
	if len(readme) >= readmeLimit {
		t.Errorf("README.md is %d bytes, the limit is %d: move reference material to docs/ and developer material to CONTRIBUTING.md", len(readme), readmeLimit)
	}
	for _, rel := range []string{"CONTRIBUTING.md", "CHANGELOG.md"} {
		if readFile(t, root, rel) == "" {
			t.Errorf("%s is empty", rel)
		}
	}
}
