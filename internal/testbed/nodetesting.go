package testbed

import "testing"

// SkipWithoutNode skips a test that needs Options.Node, with one line saying
// why: under -short (nothing is started then), or when no node can run on
// this machine (not root).
func SkipWithoutNode(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the node tests start a control plane and a kubelet")
	}
	if why := NodeUnavailable(); why != "" {
		t.Skip(why + "; node tests skip")
	}
}
