//go:build tools

// Package helm pins the helm CLI that renders and lints the chart in tests.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
