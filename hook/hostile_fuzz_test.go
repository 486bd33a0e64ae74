package hook

import (
	"errors"
	"strings"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook/rule"
)

func FuzzNamesTargetsAndNamespacesAreCheckedWithoutPanic(f *testing.F) {
	for _, s := range []string{"etl-driver", "", "a", strings.Repeat("a", 63), strings.Repeat("a", 64), strings.Repeat("a.", 126) + "a", "UP", "a_b", "x\n", "\xff", "spark-0123456789abcdef", "kube-system"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, err := range []error{ValidateNamespace(s), ValidateObjectName("driver Pod name", s), ValidateAppID(s)} {
			var usage *UsageError
			if err != nil && !errors.As(err, &usage) {
				t.Fatalf("%q refused with %T, want a *UsageError", s, err)
			}
			if err != nil && strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("%q: the refusal is more than one line", s)
			}
		}
		if ValidateNamespace(s) == nil && (len(s) > 63 || strings.ContainsAny(s, " ,=!/\n\x00")) {
			t.Fatalf("namespace %q accepted", s)
		}
		_ = rule.KindOf(s)
		if o := (CleanupOptions{Namespace: "default", DriverPod: s}); o.validate() == nil {
			if err := ValidateObjectName("x", s); err != nil {
				t.Fatalf("cleanup took a driver Pod name %q that is not one", s)
			}
		}
	})
}
