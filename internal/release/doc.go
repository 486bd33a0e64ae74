// Package release holds the tests that keep a release consistent: one
// version (the VERSION file) everywhere a user reads one, and make dist's
// artefacts reproducible.
package release
