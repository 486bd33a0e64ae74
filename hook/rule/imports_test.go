package rule_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The rule decides on what was read and reads nothing itself: its files
// import the standard library and the API's types (k8s.io/api,
// k8s.io/apimachinery), never a client. That is what lets every mode share
// it and the table test run without a cluster.
func TestTheRuleImportsNoClient(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(fset, f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowedInRule(path) {
				t.Errorf("%s imports %s: the rule may import only the standard library, k8s.io/api and k8s.io/apimachinery", f, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no rule files found")
	}
}

func allowedInRule(path string) bool {
	first := strings.Split(path, "/")[0]
	if !strings.Contains(first, ".") {
		return true // the standard library
	}
	return strings.HasPrefix(path, "k8s.io/api/") || strings.HasPrefix(path, "k8s.io/apimachinery/")
}
