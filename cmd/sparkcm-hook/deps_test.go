package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// forbiddenImports are the client-go packages the binary must not link.
// Every typed client of the clientset imports k8s.io/client-go/kubernetes/
// scheme, whose init registers every API group's types, and so does the
// discovery package; with the reflection text/template uses, that more than
// doubled the binary and its idle memory (BENCHMARKS.md, "Binary and
// footprint"). The tool's typed calls go through hook/kube instead.
var forbiddenImports = []string{
	"k8s.io/client-go/kubernetes", // the clientset, its scheme, every typed/... client
	"k8s.io/client-go/discovery",
}

func forbidden(pkg string) bool {
	return slices.ContainsFunc(forbiddenImports, func(f string) bool { return pkg == f || strings.HasPrefix(pkg, f+"/") })
}

func TestTheBinaryLinksNeitherTheClientsetNorDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	// Every package the binary links (tests aside), as `make build` builds it.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var bad []string
	packages := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		packages++
		pkg, imports := fields[0], fields[1:]
		if forbidden(pkg) {
			continue
		}
		// Name the way in: the first package outside the forbidden ones
		// that imports one of them.
		for _, imp := range imports {
			if forbidden(imp) {
				bad = append(bad, pkg+" imports "+imp)
			}
		}
	}
	if packages < 50 {
		t.Fatalf("go list named only %d packages: %s", packages, out)
	}
	if len(bad) > 0 {
		t.Errorf("the sparkcm-hook binary links %s; use hook/kube (or internal/kubetest in tests):\n%s",
			strings.Join(forbiddenImports, " or "), strings.Join(bad, "\n"))
	}
}
