#!/usr/bin/env bash
# Builds cyclonedx-gomod pinned in tools/cyclonedx/go.mod from the Go module
# proxy into a cache folder keyed by its and Go's versions, and prints the
# binary's path. A warm run only checks that the binary is there. make dist
# writes each binary's SBOM with it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/tools/cyclonedx/go.mod"
version=$(awk '$1=="require" && $2=="github.com/CycloneDX/cyclonedx-gomod"{print $3; exit} $1=="github.com/CycloneDX/cyclonedx-gomod"{print $2; exit}' "$mod")
gover=$(go env GOVERSION)
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/cyclonedx-gomod-${version}_${gover}"
if [[ -x "$dir/cyclonedx-gomod" ]]; then
  echo "$dir/cyclonedx-gomod"
  exit 0
fi
echo "building cyclonedx-gomod $version into $dir" >&2
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$root/tools/cyclonedx"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/cyclonedx-gomod" github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod
) >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir/cyclonedx-gomod"
