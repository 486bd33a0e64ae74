//go:build tools

// The toxiproxy server the fault tests put between sparkcm-hook and the API
// server, built from the Go module proxy. It is a module of its own so that
// the product's go.mod never depends on toxiproxy and its dependencies.
package tools

import _ "github.com/Shopify/toxiproxy/v2/cmd/server"
