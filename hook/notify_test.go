package hook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sparkcm-hook/sparkcm-hook/hook"
)

// noWait is the notification policy with the waits between tries skipped:
// the tests see which tries are made, not how long apart.
func noWait() hook.NotifyPolicy {
	p := hook.DefaultNotifyPolicy()
	p.Retry.Sleep = func(context.Context, time.Duration) error { return nil }
	return p
}

type webhook struct {
	mu     sync.Mutex
	bodies []string
	server *httptest.Server
}

// newWebhook answers each POST with the next code of codes (the last one
// once they run out).
func newWebhook(t *testing.T, codes ...int) *webhook {
	w := &webhook{}
	w.server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.bodies = append(w.bodies, r.Method+" "+r.Header.Get("Content-Type")+" "+string(b))
		n := len(w.bodies)
		w.mu.Unlock()
		rw.WriteHeader(codes[min(n, len(codes))-1])
	}))
	t.Cleanup(w.server.Close)
	return w
}

func (w *webhook) posts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.bodies...)
}

func TestNotifyPostsTheSummaryAndRetriesOnlyWhatMaySucceedLater(t *testing.T) {
	summary := hook.Summary{Namespace: "jobs", Counts: hook.Counts{Deleted: 3, Skipped: 1}}
	body, _ := json.Marshal(summary)
	post := "POST application/json " + string(body)
	for _, c := range []struct {
		name    string
		codes   []int
		posts   int
		wantErr bool
	}{
		{"accepted at once", []int{http.StatusNoContent}, 1, false},
		{"unavailable, then accepted", []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusOK}, 3, false},
		{"throttled, then accepted", []int{http.StatusTooManyRequests, http.StatusAccepted}, 2, false},
		{"refused for good: not retried", []int{http.StatusBadRequest}, 1, true},
		{"not found: not retried", []int{http.StatusNotFound}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWebhook(t, c.codes...)
			err := hook.Notify(t.Context(), testLog(t), noWait(), w.server.URL, summary)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want one: %v", err, c.wantErr)
			}
			var werr *hook.WebhookError
			if c.wantErr && (!errors.As(err, &werr) || werr.Code != c.codes[0]) {
				t.Errorf("want a WebhookError with %d, got %v", c.codes[0], err)
			}
			got := w.posts()
			if len(got) != c.posts {
				t.Fatalf("want %d POSTs, got %d: %q", c.posts, len(got), got)
			}
			for _, p := range got {
				if p != post {
					t.Errorf("posted %q, want %q", p, post)
				}
			}
		})
	}
}

// A webhook that never answers costs each try its timeout, and the run its
// budget; then Notify gives up with an error. It does not hang.
func TestNotifyGivesUpOnAWebhookThatNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	tries := 0
	s := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		tries++
		mu.Unlock()
		<-release
	}))
	t.Cleanup(func() { close(release); s.Close() })
	p := noWait()
	p.AttemptTimeout = 50 * time.Millisecond
	p.Retry.Budget, p.Retry.Initial, p.Retry.Max = 300*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond
	err := hook.Notify(t.Context(), testLog(t), p, s.URL, hook.Summary{})
	if err == nil {
		t.Fatal("want an error from a webhook that never answers")
	}
	mu.Lock()
	defer mu.Unlock()
	if tries < 2 {
		t.Errorf("a timed-out POST is transient and is tried again; tried %d time(s)", tries)
	}
}

func TestWebhookURLMustBeAbsoluteHTTP(t *testing.T) {
	for _, u := range []string{"", "example.com/hook", "ftp://example.com/x", "http://", "://x", "file:///etc/passwd"} {
		var usage *hook.UsageError
		if err := hook.ValidateWebhookURL(u); !errors.As(err, &usage) {
			t.Errorf("%q: want a usage error, got %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080/hook", "https://hooks.example.com/x?token=1"} {
		if err := hook.ValidateWebhookURL(u); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
}
