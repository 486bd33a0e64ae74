package apachefixture

import "testing"

// The application id is the operator's: <name>-<attempt>, and past 46
// characters the hashed form. The expected hashed id was computed with
// Java's MessageDigest and BigInteger.toString(36), as the operator does.
func TestAppIDIsTheOperators(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ns, app string
		attempt int64
		want    string
	}{
		{"short name: name and attempt", "jobs", "pi", 0, "pi-0"},
		{"restarted", "jobs", "pi", 2, "pi-2"},
		{"46 characters: kept", "jobs", "a2345678901234567890123456789012345678901234", 0, "a2345678901234567890123456789012345678901234-0"},
		{"longer: hashed", "jobs", "a-very-long-application-name-for-the-nightly-etl", 3, "a-very-lo-1sk9zu3rlo4svd10ofsbsi2o739i3pf862p2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppID(tc.ns, tc.app, tc.attempt); got != tc.want {
				t.Fatalf("AppID(%q, %q, %d) = %q, want %q", tc.ns, tc.app, tc.attempt, got, tc.want)
			}
		})
	}
}
