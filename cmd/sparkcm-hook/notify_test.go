package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
	"github.com/sparkcm-hook/sparkcm-hook/internal/sparkfixture"
)

// webhook serves a webhook that answers code; posted returns the body of
// the last POST it received.
func webhook(t *testing.T, code int) (url string, posted func() []byte) {
	t.Helper()
	var mu sync.Mutex
	var last []byte
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = b
		mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s.URL + "/hook", func() []byte {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// sweep --notify-webhook POSTs the summary once the deletes are done; a
// webhook that refuses it is logged and changes neither what was deleted
// nor the exit code.
func TestSweepNotifiesTheWebhookAndNeverFailsBecauseOfIt(t *testing.T) {
	for _, c := range []struct {
		name string
		code int
		log  string
	}{
		{"accepted", http.StatusNoContent, "notified the webhook"},
		{"refused", http.StatusForbidden, "could not notify the webhook (the sweep itself is unaffected)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := cp.NewNamespace(t)
			app := newApp(t, ns, sparkfixture.Spec{})
			kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns)
			url, posted := webhook(t, c.code)
			r := runCLI(t, "sweep", "--kubeconfig", kc, "--older-than", "0s", "--notify-webhook", url)
			if r.code != 0 || !strings.Contains(r.stderr, c.log) {
				t.Fatalf("exit %d, want 0 and %q in the log:\n%s", r.code, c.log, r.stderr)
			}
			var got hook.Summary
			if err := json.Unmarshal(posted(), &got); err != nil {
				t.Fatalf("posted %q: %v", posted(), err)
			}
			if got.Namespace != ns || got.Counts.Deleted != len(app.MapNames()) || len(got.AppIDs) != 1 || got.AppIDs[0] != app.AppID {
				t.Errorf("posted %+v, want namespace %s, %d deleted, app id %s", got, ns, len(app.MapNames()), app.AppID)
			}
			if n := mapCount(t, ns); n != 0 {
				t.Errorf("%d maps left after the sweep", n)
			}
		})
	}
}

func TestSweepRefusesAWebhookThatIsNoHTTPURL(t *testing.T) {
	r := runCLI(t, "sweep", "-n", "a", "--older-than", "1h", "--notify-webhook", "hooks.example.com/x", "--kubeconfig", "/nonexistent")
	want := `error: --notify-webhook: webhook URL "hooks.example.com/x": want an absolute http:// or https:// URL`
	if r.code != 2 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("want exit 2 and %q, got %d %q", want, r.code, r.stderr)
	}
}

// report --notify-webhook POSTs the report it printed, once complete.
func TestReportNotifiesTheWebhookWithWhatItPrinted(t *testing.T) {
	ns := cp.NewNamespace(t)
	app := newApp(t, ns, sparkfixture.Spec{})
	kc := kubeconfig(t, cp.Get(t).AdminConfig(), ns)
	url, posted := webhook(t, http.StatusNoContent)
	r := runCLI(t, "report", "--kubeconfig", kc, "-o", "json", "--notify-webhook", url)
	if r.code != 0 || !strings.Contains(r.stderr, "notified the webhook") {
		t.Fatalf("exit %d, want 0 and \"notified the webhook\" in the log:\n%s", r.code, r.stderr)
	}
	var got, printed hook.ReportResult
	if err := json.Unmarshal(posted(), &got); err != nil {
		t.Fatalf("posted %q: %v", posted(), err)
	}
	if err := json.Unmarshal([]byte(r.stdout), &printed); err != nil {
		t.Fatalf("printed %q: %v", r.stdout, err)
	}
	if got.Total.WouldDelete != len(app.MapNames()) || got.Total != printed.Total {
		t.Errorf("posted totals %+v, printed %+v; want %d maps a sweep would delete", got.Total, printed.Total, len(app.MapNames()))
	}
	if n := mapCount(t, ns); n != len(app.MapNames()) {
		t.Errorf("%d maps left after a report, want all %d", n, len(app.MapNames()))
	}
}

func TestReportRefusesAWebhookThatIsNoHTTPURL(t *testing.T) {
	r := runCLI(t, "report", "-n", "a", "--notify-webhook", "hooks.example.com/x", "--kubeconfig", "/nonexistent")
	want := `error: --notify-webhook: webhook URL "hooks.example.com/x": want an absolute http:// or https:// URL`
	if r.code != 2 || strings.TrimSpace(r.stderr) != want {
		t.Errorf("want exit 2 and %q, got %d %q", want, r.code, r.stderr)
	}
}
