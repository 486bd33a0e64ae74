package hook

import (
	"context"
	"log/slog"
)

// Retry runs op with the library's retry rules (only transient failures,
// inside p's budget), for packages built on this one.
func Retry(ctx context.Context, log *slog.Logger, p RetryPolicy, what string, op func(context.Context) error) error {
	return retry(ctx, log, p, what, op)
}

// AsForbidden turns a 403 into a *ForbiddenError naming the identity, verb,
// resource and namespace; any other error is returned as is.
func AsForbidden(err error, verb, group, resource, namespace string) error {
	return asForbidden(err, verb, group, resource, namespace)
}
