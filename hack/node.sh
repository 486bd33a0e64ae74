#!/usr/bin/env bash
# Prepares the test node (internal/kubecluster WithNode): builds kubelet and
# kube-scheduler from the k8s.io/kubernetes module pinned in
# tools/controlplane/go.mod into a cache folder keyed by the Kubernetes and Go
# versions, installs containerd, runc and the CNI plugins from Debian's
# packages when they are missing and this runs as root, and prints the folder.
# A warm run only checks that everything is there.
#
# Only root can run a node (runc, mounts, cgroups). As another user this
# builds nothing, installs nothing, says so in one line on stderr and exits 3;
# the node tests then skip.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"

if [[ $(id -u) -ne 0 ]]; then
  echo "node: not root: a kubelet with containerd and runc needs root; node tests skip" >&2
  exit 3
fi

# Debian's containerd 1.6 and runc 1.1 are what the node was proved with.
need=()
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[[ -x /usr/lib/cni/loopback || -x /opt/cni/bin/loopback ]] || need+=(containernetworking-plugins)
if [[ ${#need[@]} -gt 0 ]]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "node: missing ${need[*]} and no apt-get to install them" >&2
    exit 1
  fi
  echo "node: installing ${need[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  # No service is started: the testbed runs its own containerd per node.
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } >&2
fi

mod="$root/tools/controlplane/go.mod"
k8s=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$mod")
gover=$(go env GOVERSION)
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/node/kubernetes-${k8s}_${gover}"
if [[ -x "$dir/kubelet" && -x "$dir/kube-scheduler" ]]; then
  echo "$dir"
  exit 0
fi
echo "node: building kubelet and kube-scheduler (kubernetes $k8s) into $dir; a cold build takes minutes" >&2
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$root/tools/controlplane"
  # The flags of hack/controlplane.sh, so both share the Go build cache.
  go build -ldflags "$(k8s_version_ldflags "$k8s")" -o "$tmp/" k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler
) >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
