//go:build tools

// Package cyclonedx pins cyclonedx-gomod, which writes make dist's SBOM of
// each binary (CycloneDX, from the module graph and the binary's build info).
package cyclonedx

import (
	_ "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod"
)
