package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sparkcm-hook/sparkcm-hook/hook/kube"
)

// NotifyPolicy bounds one webhook notification: each POST gets
// AttemptTimeout, and failed ones are retried (a refused or broken
// connection, a timeout, 429 or a 5xx) with the library's retry rules
// inside Retry.Budget. The defaults keep a notification from holding the
// run up for long: the maps are deleted before it is sent.
type NotifyPolicy struct {
	Retry          RetryPolicy
	AttemptTimeout time.Duration
	// Client sends the POSTs; nil means a plain http.Client.
	Client *http.Client
}

// DefaultNotifyPolicy is at most about half a minute of retries, ten
// seconds per POST: a fresh value each call, so no caller changes what
// another gets.
func DefaultNotifyPolicy() NotifyPolicy {
	return NotifyPolicy{
		Retry:          RetryPolicy{Budget: 30 * time.Second, Initial: 500 * time.Millisecond, Max: 5 * time.Second},
		AttemptTimeout: 10 * time.Second,
	}
}

// ValidateWebhookURL accepts an absolute http or https URL with a host.
func ValidateWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Usagef("webhook URL %q: want an absolute http:// or https:// URL", raw)
	}
	return nil
}

// WebhookError is a webhook's answer other than 2xx.
type WebhookError struct {
	Code int
	Body string
}

func (e *WebhookError) Error() string {
	return fmt.Sprintf("webhook answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// Notify POSTs body as JSON to the webhook at rawURL. A 2xx answer is
// success; anything else, once the retries are spent, is the error, which
// the caller logs: a notification never changes what was done.
func Notify(ctx context.Context, log *slog.Logger, p NotifyPolicy, rawURL string, body any) error {
	if err := ValidateWebhookURL(rawURL); err != nil {
		return err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode the notification: %w", err)
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = DefaultNotifyPolicy().AttemptTimeout
	}
	if p.Retry.Budget <= 0 {
		p.Retry = DefaultNotifyPolicy().Retry
	}
	client := p.Client
	if client == nil {
		client = &http.Client{}
	}
	return kube.Retry(ctx, log, p.Retry, "notify webhook", func(outer context.Context) error {
		ctx, cancel := context.WithTimeout(outer, p.AttemptTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil && outer.Err() == nil {
				// This attempt's own timeout: as transient as any other
				// timeout, unlike the caller's context ending.
				return apierrors.NewTimeoutError("webhook did not answer within "+p.AttemptTimeout.String(), 0)
			}
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		if resp.StatusCode/100 == 2 {
			return nil
		}
		werr := &WebhookError{Code: resp.StatusCode, Body: kube.OneLineErr(fmt.Errorf("%s", msg))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			// Classified as the API server's own 429 and 5xx are, so
			// that the one retry policy decides.
			return fmt.Errorf("%w (%w)", werr, apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodPost, schema.GroupResource{}, "", "", 0, false))
		}
		return werr
	})
}
