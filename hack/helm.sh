#!/usr/bin/env bash
# Builds the helm CLI pinned in tools/helm/go.mod from the Go module proxy into
# a cache folder keyed by the helm and Go versions, and prints the binary's
# path. A warm run only checks that the binary is there. The chart tests call
# this when SPARKCM_HELM is not set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/tools/helm/go.mod"
helm=$(awk '$1=="require" && $2=="helm.sh/helm/v3"{print $3; exit} $1=="helm.sh/helm/v3"{print $2; exit}' "$mod")
gover=$(go env GOVERSION)
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/helm-${helm}_${gover}"
if [[ -x "$dir/helm" ]]; then
  echo "$dir/helm"
  exit 0
fi
echo "building helm $helm into $dir; a cold build takes a few minutes" >&2
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$root/tools/helm"
  # The same version stamps helm's own release build sets: without them
  # `helm version` says v3.22 and charts are checked against Kubernetes 1.20.
  k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go)  # v0.MINOR.PATCH
  minor=$(echo "$k8s" | cut -d. -f2)
  pkg=helm.sh/helm/v3
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w \
    -X $pkg/internal/version.version=$helm \
    -X $pkg/internal/version.metadata= \
    -X $pkg/internal/version.gitTreeState=clean \
    -X $pkg/pkg/lint/rules.k8sVersionMajor=1 \
    -X $pkg/pkg/lint/rules.k8sVersionMinor=$minor \
    -X $pkg/pkg/chartutil.k8sVersionMajor=1 \
    -X $pkg/pkg/chartutil.k8sVersionMinor=$minor" \
    -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
) >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir/helm"
