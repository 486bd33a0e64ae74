#!/usr/bin/env bash
# Builds the toxiproxy server pinned in tools/toxiproxy/go.mod from the Go
# module proxy into a cache folder keyed by the toxiproxy and Go versions, and
# prints the binary's path. A warm run only checks that the binary is there.
# The fault tests call this when SPARKCM_TOXIPROXY is not set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mod="$root/tools/toxiproxy/go.mod"
version=$(awk '$1=="require" && $2=="github.com/Shopify/toxiproxy/v2"{print $3; exit} $1=="github.com/Shopify/toxiproxy/v2"{print $2; exit}' "$mod")
gover=$(go env GOVERSION)
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/toxiproxy-${version}_${gover}"
if [[ -x "$dir/toxiproxy-server" ]]; then
  echo "$dir/toxiproxy-server"
  exit 0
fi
echo "building toxiproxy $version into $dir" >&2
tmp="$dir.tmp.$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
(
  cd "$root/tools/toxiproxy"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/toxiproxy-server" github.com/Shopify/toxiproxy/v2/cmd/server
) >&2
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir/toxiproxy-server"
