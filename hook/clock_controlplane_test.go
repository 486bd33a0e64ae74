package hook_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// twoReplicas stands for a proxy in front of two API server replicas whose
// clocks disagree: every other answer's Date is shifted by d.
func twoReplicas(d time.Duration) func(http.RoundTripper) http.RoundTripper {
	var n atomic.Int64
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && n.Add(1)%2 == 0 {
				if date, perr := http.ParseTime(resp.Header.Get("Date")); perr == nil {
					resp.Header.Set("Date", date.Add(d).UTC().Format(http.TimeFormat))
				}
			}
			return resp, err
		})
	}
}

func TestSweepNeverOverstatesAgesWhenReplicasClocksDisagree(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	// One replica's clock runs two hours ahead of the one that stamped the
	// maps: read on it, the fresh maps would be two hours old.
	c := clientsFor(t, cp.Get(t).AdminConfig(), twoReplicas(2*time.Hour))
	res, err := sweep(t, c, hook.SweepOptions{Namespace: ns, OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 0 {
		t.Fatalf("deleted %v: ages were measured on the replica ahead", names(res.Deleted))
	}
	if got, want := mapNames(t, ns), sorted(app.MapNames()); !equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
}
