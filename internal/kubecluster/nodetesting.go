package kubecluster

import "testing"

// SkipWithoutNode guards a test that needs Options.Node: it skips under
// -short (nothing is started then), and where no node can run on this
// machine (not root) it skips with one line saying why, or fails under CI
// (Require, the "node" tier).
func SkipWithoutNode(t testing.TB) {
	t.Helper()
	Require(t, "node", NodeUnavailable())
}
