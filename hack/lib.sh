# Shared by hack/controlplane.sh and hack/node.sh.

# k8s_version_ldflags VERSION prints the -X flags Kubernetes' own release
# build sets, so the binaries report VERSION (e.g. v1.37.2) instead of
# v0.0.0-master.
k8s_version_ldflags() {
  local v=$1 major minor
  major=$(echo "${v#v}" | cut -d. -f1)
  minor=$(echo "${v#v}" | cut -d. -f2)
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean ' \
      "$pkg" "$v" "$pkg" "$major" "$pkg" "$minor" "$pkg"
  done
}
