//go:build tools

// Package golangcilint pins the golangci-lint CLI that `make lint` runs.
package golangcilint

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
