#!/usr/bin/env bash
# Builds the golangci-lint CLI pinned in tools/golangci-lint/go.mod from the Go
# module proxy into a cache folder keyed by the golangci-lint and Go versions,
# and prints the binary's path. A warm run only checks that the binary is
# there. `make lint` calls this; nothing is downloaded from anywhere else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/tools/golangci-lint/go.mod"
pkg=github.com/golangci/golangci-lint/v2
ver=$(awk -v p="$pkg" '$1=="require" && $2==p{print $3; exit} $1==p{print $2; exit}' "$mod")
gover=$(go env GOVERSION)
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/golangci-lint-${ver}_${gover}"
if [[ -x "$dir/golangci-lint" ]]; then
  echo "$dir/golangci-lint"
  exit 0
fi
echo "building golangci-lint $ver into $dir; a cold build takes a few minutes" >&2
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$root/tools/golangci-lint"
  # The version stamps golangci-lint's own release build sets, so that
  # `golangci-lint version` names the pinned release.
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${ver#v} -X main.date=module-proxy" \
    -o "$tmp/golangci-lint" "$pkg/cmd/golangci-lint"
) >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir/golangci-lint"
