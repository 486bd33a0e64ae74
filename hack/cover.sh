#!/usr/bin/env bash
# Measures what the unit tier (go test -short, no cluster) covers of the
# rule (hook/rule) and the orchestration (hook), over every short test of
# the module (the command's tests drive hook too), and fails when either is
# under the floor. A statement counts once however many test binaries ran
# it. Usage: hack/cover.sh [floor-percent]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
floor=${1:-85}
profile=$(mktemp)
trap 'rm -f "$profile"' EXIT
mod=$(go list -m)
SPARKCM_CONTROLPLANE_BIN=/nonexistent SPARKCM_HELM=/nonexistent SPARKCM_BIN=/nonexistent \
  go test -short -count=1 -coverpkg=./hook,./hook/rule -coverprofile="$profile" ./... >/dev/null
awk -v mod="$mod" -v floor="$floor" '
  NR == 1 { next }
  {
    split($1, a, ":"); file = a[1]; n = $2; c = $3
    if (!($1 in stmts)) { stmts[$1] = n; pkg[$1] = file; sub(/\/[^\/]*$/, "", pkg[$1]) }
    if (c > 0) hit[$1] = 1
  }
  END {
    for (b in stmts) { total[pkg[b]] += stmts[b]; if (b in hit) covered[pkg[b]] += stmts[b] }
    bad = 0
    for (p in total) {
      pct = 100 * covered[p] / total[p]
      short = p; sub("^" mod "/", "", short)
      printf "%-12s %5.1f%% of %d statements (floor %d%%)\n", short, pct, total[p], floor
      if (pct < floor) bad = 1
    }
    exit bad
  }' "$profile" | sort
