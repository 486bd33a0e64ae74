#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager)
# from the Go module proxy into a cache folder keyed by the pinned versions, and
# prints that folder. A warm run only checks that the three binaries are there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"
mod="$root/tools/controlplane/go.mod"
k8s=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$mod")
etcd=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$mod")
gover=$(go env GOVERSION)
# "_v2": the binaries carry their release version (see ldflags below).
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/controlplane/kubernetes-${k8s}_etcd-${etcd}_${gover}_v2"
if [[ -x "$dir/kube-apiserver" && -x "$dir/kube-controller-manager" && -x "$dir/etcd" ]]; then
  echo "$dir"
  exit 0
fi
echo "building the control plane (kubernetes $k8s, etcd $etcd) into $dir; a cold build takes about 5 minutes" >&2
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$root/tools/controlplane"
  # Plain flags on purpose: any -trimpath or CGO change would miss the Go
  # build cache a previous build left and cost a cold build again. The
  # version stamps only change the link step; without them the API server
  # says v0.0.0-master and helm refuses charts with a kubeVersion.
  go build -ldflags "$(k8s_version_ldflags "$k8s")" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager
  go build -o "$tmp/etcd" go.etcd.io/etcd/server/v3
) >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
