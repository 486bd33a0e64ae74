#!/usr/bin/env bash
# Proves that a lone clone works: clones the committed HEAD of this
# repository into an empty folder with nothing beside it (no folder of the
# development workspace, no other checkout) and runs `make demo` there. Caches (Go's, and
# SPARKCM_CACHE_DIR when set) are shared, as they would be on a user's
# machine that ran the build once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sparkcm-clone.XXXXXX")
trap 'rm -rf "$work"' EXIT
git clone --quiet --no-hardlinks "$root" "$work/sparkcm-hook"
ls -A "$work" | grep -qvx sparkcm-hook && { echo "clone-demo: $work is not empty besides the clone" >&2; exit 1; }
cd "$work/sparkcm-hook"
echo "clone-demo: make demo in a lone clone at $work/sparkcm-hook ($(git rev-parse --short HEAD))" >&2
make demo
