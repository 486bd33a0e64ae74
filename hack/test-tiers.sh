#!/usr/bin/env bash
# Runs test tiers one after another, as `make test` and `make test-times` do,
# and ends with one line on stdout saying which ran, passed, failed or were
# skipped:
#
#   tiers: lint ok, verify ok, short ok, cover ok, go ok, spark ok, node ok, airflow ok, clone ok (0 skipped)
#
# `go test` without -v prints "ok" for a package whose every test skipped, so
# the tiers that can skip (spark without Java 17, node without root, Airflow's
# pytest) record each skip in $SPARKCM_TIER_LOG (internal/kubecluster Require,
# hack/lib.sh tier_unavailable) and this reads it. With CI set those skips
# fail where they happen; should one be recorded all the same, the run fails
# here.
#
#   hack/test-tiers.sh [--times] TIER...    TIER: lint verify size short go spark airflow clone
#
# --times also prints a Markdown table of each tier's wall time, the CPU time
# of everything it ran (user + system; on a machine shared with other work
# the wall time depends on that work, the CPU time much less) and the command,
# with every Go test run (-count=1), none from go test's cache. The first
# failing tier stops the run, as make would.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"
cd "$root"

times=0
if [[ "${1:-}" == "--times" ]]; then
  times=1
  shift
fi
make="make --no-print-directory"
short_flags=""
[[ $times -eq 1 ]] && short_flags=" SHORT_FLAGS=-count=1"

# The command each tier runs (test-go and test-spark always use -count=1).
declare -A cmd=(
  [lint]="$make lint"
  [verify]="$make verify"
  [size]="$make check-size"
  [short]="$make test-short$short_flags"
  [cover]="$make cover"
  [go]="$make test-go"
  [spark]="$make test-spark"
  [airflow]="$make test-airflow"
  [clone]="$make test-clone"
)
all="lint verify size short cover go spark airflow clone"
for t in "$@"; do
  if [[ -z "${cmd[$t]:-}" ]]; then
    echo "test-tiers: unknown tier $t (tiers: $all)" >&2
    exit 2
  fi
done
if [[ $# -eq 0 ]]; then
  echo "usage: hack/test-tiers.sh [--times] TIER... (tiers: $all)" >&2
  exit 2
fi

log=$(mktemp "${TMPDIR:-/tmp}/sparkcm-tiers.XXXXXX")
trap 'rm -f "$log" "$log".*' EXIT
export SPARKCM_TIER_LOG="$log"
declare -A status=() seconds=() cpu=()
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
started=$(date -u +%Y-%m-%dT%H:%MZ)

# skipped_why TIER prints the first recorded reason TIER skipped, or nothing.
skipped_why() {
  sed -n "s/^tier $1 skipped: //p" "$log" | head -n1
}

summary() {
  local parts=() t why nskip=0 skips=()
  # The go tier runs the Spark and node tests too: name them apart, since
  # they are what a machine without Java or root skips.
  local shown=()
  for t in "$@"; do
    shown+=("$t")
    [[ $t == go ]] && shown+=(spark node)
  done
  for t in "${shown[@]}"; do
    local s=${status[$t]:-}
    if [[ -z "$s" ]]; then
      case $t in
        spark | node) s=${status[go]:-not run} ;;
        *) s="not run" ;;
      esac
    fi
    why=$(skipped_why "$t")
    if [[ -n "$why" ]]; then
      s="skipped"
      nskip=$((nskip + 1))
      skips+=("$t: $why")
    fi
    parts+=("$t $s")
  done
  local IFS=,
  local line="tiers: ${parts[*]}"
  line=${line//,/, }
  if [[ $nskip -eq 0 ]]; then
    echo "$line (0 skipped)"
  else
    local IFS=';'
    local reasons="${skips[*]}"
    echo "$line ($nskip skipped: ${reasons//;/; })"
  fi
  return $nskip
}

times_table() {
  echo
  echo "Tier wall times, started $started, $(nproc) cores, load average $load_start at the start and $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?") at the end:"
  echo
  echo "| tier | command | result | wall | CPU (user + system) |"
  echo "|---|---|---|---|---|"
  for t in "$@"; do
    [[ -n "${status[$t]:-}" ]] || continue
    printf '| %s | `make %s` | %s | %s s | %s s |\n' "$t" "${cmd[$t]#"$make "}" "${status[$t]}" "${seconds[$t]}" "${cpu[$t]}"
  done
}

# children_cpu prints the user + system seconds of every finished child of
# this shell so far (the second line of bash's times). times runs here, not
# in a $(...) subshell: a forked subshell has no children yet.
children_cpu() {
  times >"$log.times"
  awk 'NR == 2 {
    n = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); n += p[1] * 60 + p[2] }
    print n
  }' "$log.times"
}

rc=0
for t in "$@"; do
  start=$(date +%s.%N)
  children_cpu >"$log.cpu0"
  if bash -c "${cmd[$t]}"; then
    status[$t]=ok
  else
    rc=$?
    status[$t]=FAILED
  fi
  seconds[$t]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  children_cpu >"$log.cpu1"
  cpu[$t]=$(awk 'NR == FNR { a = $1; next } { printf "%.1f", $1 - a }' "$log.cpu0" "$log.cpu1")
  [[ $rc -eq 0 ]] || break
done

skipped=0
summary "$@" || skipped=$?
[[ $times -eq 1 ]] && times_table "$@"
if [[ $rc -ne 0 ]]; then
  exit "$rc"
fi
if [[ $skipped -gt 0 ]] && in_ci; then
  echo "test-tiers: CI=$CI and $skipped tier(s) skipped: a run that skipped a tier is not a pass" >&2
  exit 1
fi
