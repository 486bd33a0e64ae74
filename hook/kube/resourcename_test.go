package kube

import (
	"testing"
)

func TestResourceNameIsKubectlsResourceDotGroup(t *testing.T) {
	for _, tc := range []struct{ group, resource, want string }{
		{"", "configmaps", "configmaps"},
		{"sparkoperator.k8s.io", "sparkapplications", "sparkapplications.sparkoperator.k8s.io"},
	} {
		if got := ResourceName(tc.group, tc.resource); got != tc.want {
			t.Errorf("ResourceName(%q, %q) = %q, want %q", tc.group, tc.resource, got, tc.want)
		}
	}
}
