package hook

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

// FuzzAppSelectorNeverWidens: whatever the input, either it is refused, or
// the selector it builds is exactly spark-app-selector=<input> and matches
// only that value.
func FuzzAppSelectorNeverWidens(f *testing.F) {
	for _, seed := range []string{"spark-1a2b3c", "", "a,b", "a!=b", "a b", "*", "spark-app-selector", "x=y", "a,spark-role!=driver", "ok.value_1", "-bad", "é"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		sel, err := appSelector(id)
		if err != nil {
			if sel != nil {
				t.Fatalf("refused input %q still returned a selector", id)
			}
			return
		}
		if sel.Empty() {
			t.Fatalf("input %q built an empty selector", id)
		}
		reqs, selectable := sel.Requirements()
		if !selectable || len(reqs) != 1 {
			t.Fatalf("input %q built %d requirements (%s)", id, len(reqs), sel)
		}
		r := reqs[0]
		if r.Key() != rule.LabelAppSelector || r.Operator() != selection.Equals || r.Values().Len() != 1 || !r.Values().Has(id) {
			t.Fatalf("input %q built selector %q", id, sel)
		}
		if sel.Matches(labels.Set{rule.LabelAppSelector: id + "x"}) || sel.Matches(labels.Set{}) {
			t.Fatalf("selector for %q matches more than its own value", id)
		}
		// The selector must survive the trip through its string form (what
		// goes on the wire) unchanged.
		parsed, err := labels.Parse(sel.String())
		if err != nil || parsed.String() != sel.String() {
			t.Fatalf("selector %q does not round-trip: %v", sel, err)
		}
	})
}

func TestValidationRefusesInputThatCouldWidenASelector(t *testing.T) {
	for _, id := range []string{"", "a,b", "a!=b", "a b", "*", "x=y", "a\nb", "in (a)", "-lead", "trail-"} {
		if err := ValidateAppID(id); err == nil {
			t.Errorf("ValidateAppID(%q) accepted it", id)
		} else if !isErr[*UsageError](err) {
			t.Errorf("ValidateAppID(%q) error is %T, want *UsageError", id, err)
		}
	}
	for _, name := range []string{"", "Upper", "a_b", "a/b", "..", "x*"} {
		if err := ValidateObjectName("driver pod name", name); err == nil {
			t.Errorf("ValidateObjectName(%q) accepted it", name)
		}
	}
	for _, ns := range []string{"", "a.b", "UP", "-x"} {
		if err := ValidateNamespace(ns); err == nil {
			t.Errorf("ValidateNamespace(%q) accepted it", ns)
		}
	}
	for _, ok := range []string{"spark-0123456789abcdef0123456789abcdef", "app_1.x"} {
		if err := ValidateAppID(ok); err != nil {
			t.Errorf("ValidateAppID(%q): %v", ok, err)
		}
	}
}
