package kubecluster

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// EnvTierLog names the file a run appends one line to for every tier that
// could not run here ("tier spark skipped: no Java 17 ..."). `make test` sets
// it and ends with a summary read from it: go test without -v prints "ok" for
// a package whose every test skipped, so the skip must be recorded elsewhere
// to be seen at all.
const EnvTierLog = "SPARKCM_TIER_LOG"

// InCI reports whether the CI environment variable is set (as GitHub, GitLab
// and most CI services set it), to anything but "", "0" or "false". There a
// required tier must run: a skip would let the run go green without it.
func InCI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false":
		return false
	}
	return true
}

// Require guards a test that needs a tier's component (the "spark" tier
// needs Java 17, the "node" tier root): why says in one line why it cannot
// run here, "" when it can. Under -short the test skips, as every test that
// needs more than the short tier does. Otherwise, with CI set, the test fails
// naming the tier; without CI it skips and the skip is appended to
// $SPARKCM_TIER_LOG, so that the run's summary counts it.
func Require(t testing.TB, tier, why string) {
	t.Helper()
	require(t, testing.Short(), tier, why)
}

// require is Require with -short passed in, so that its test, which runs in
// the short tier, can check the other paths too.
func require(t testing.TB, short bool, tier, why string) {
	t.Helper()
	if short {
		t.Skipf("-short: the %s tier is not part of the short tier", tier)
	}
	if why == "" {
		return
	}
	if InCI() {
		t.Fatalf("tier %s is required under CI=%s but cannot run: %s", tier, os.Getenv("CI"), why)
	}
	if err := RecordTierSkip(tier, why); err != nil {
		// A skip nobody hears of is what this guards against.
		t.Fatalf("tier %s skipped (%s), and the skip could not be recorded: %v", tier, why, err)
	}
	t.Skipf("tier %s skipped: %s", tier, why)
}

// RecordTierSkip appends "tier <tier> skipped: <why>" to $SPARKCM_TIER_LOG;
// without it set it does nothing. Test binaries of several packages append
// at once: one write per line, in append mode, keeps their lines whole.
func RecordTierSkip(tier, why string) error {
	path := os.Getenv(EnvTierLog)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("tier log: %w", err)
	}
	line := fmt.Sprintf("tier %s skipped: %s\n", tier, strings.ReplaceAll(why, "\n", " "))
	if _, err := f.WriteString(line); err != nil {
		_ = f.Close()
		return fmt.Errorf("tier log %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tier log %s: %w", path, err)
	}
	return nil
}
