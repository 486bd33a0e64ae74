package kubecluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// outcomeTB stands in for the test's testing.TB so that a failure or skip of
// the guarded test can be observed instead of ending this one; like the
// real ones, Fatalf and Skipf end the goroutine that calls them.
type outcomeTB struct {
	testing.TB
	outcome string // "ran", "failed: ..." or "skipped: ..."
}

func (o *outcomeTB) Helper() {}

func (o *outcomeTB) Fatalf(format string, args ...any) {
	o.outcome = "failed: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcomeTB) Skipf(format string, args ...any) {
	o.outcome = "skipped: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestRequireFailsUnderCIAndElsewhereSkipsAndRecordsTheTier(t *testing.T) {
	for name, tc := range map[string]struct {
		ci, why  string
		short    bool
		noLog    bool
		want     string // prefix of the outcome
		wantLine string // the line the tier log must hold, "" for none
	}{
		"a tier that can run runs, under CI too": {ci: "true", want: "ran"},
		"a tier that can run runs":               {want: "ran"},
		"under CI a missing component fails the test and names the tier": {
			ci: "true", why: "no Java 17", want: "failed: tier spark is required under CI=true but cannot run: no Java 17",
		},
		"any CI value but 0 and false counts": {ci: "1", why: "no Java 17", want: "failed: tier spark"},
		"outside CI it skips and records the tier": {
			why: "no Java 17", want: "skipped: tier spark skipped: no Java 17", wantLine: "tier spark skipped: no Java 17\n",
		},
		"CI=false is not CI": {
			ci: "false", why: "no Java 17", want: "skipped: tier spark", wantLine: "tier spark skipped: no Java 17\n",
		},
		"CI=0 is not CI": {
			ci: "0", why: "no Java 17", want: "skipped: tier spark", wantLine: "tier spark skipped: no Java 17\n",
		},
		"without a tier log it still skips": {why: "no Java 17", noLog: true, want: "skipped: tier spark skipped"},
		"a multi-line reason is one line in the log": {
			why: "no Java\nsee above", want: "skipped: tier spark", wantLine: "tier spark skipped: no Java see above\n",
		},
		"-short skips without counting it as a tier skip, even under CI": {
			ci: "true", why: "no Java 17", short: true, want: "skipped: -short",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			log := filepath.Join(t.TempDir(), "tiers")
			if tc.noLog {
				t.Setenv(EnvTierLog, "")
			} else {
				t.Setenv(EnvTierLog, log)
			}
			o := &outcomeTB{TB: t, outcome: "ran"}
			done := make(chan struct{})
			go func() {
				defer close(done)
				require(o, tc.short, "spark", tc.why)
			}()
			<-done
			if !strings.HasPrefix(o.outcome, tc.want) {
				t.Errorf("outcome %q, want %q...", o.outcome, tc.want)
			}
			got, err := os.ReadFile(log)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			if string(got) != tc.wantLine {
				t.Errorf("tier log %q, want %q", got, tc.wantLine)
			}
		})
	}
}

// Several test binaries append to one log at once; two records are two lines.
func TestRecordTierSkipAppends(t *testing.T) {
	log := filepath.Join(t.TempDir(), "tiers")
	t.Setenv(EnvTierLog, log)
	for _, tier := range []string{"spark", "node"} {
		if err := RecordTierSkip(tier, "why"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "tier spark skipped: why\ntier node skipped: why\n"; string(got) != want {
		t.Fatalf("tier log %q, want %q", got, want)
	}
}
