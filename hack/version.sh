#!/usr/bin/env bash
# Prints the version stamps of a build, one `name=value` a line:
#   version=0.2.0            VERSION at a clean commit tagged v0.2.0
#   version=0.2.0-dev.g1a2b3c4d5e6f[.dirty]  anywhere else (a dev build)
#   commit=<full commit hash, or unknown outside git>
#   date=<the commit's date in UTC, RFC 3339>
# VERSION is the one source of truth: the chart, the Airflow package and the
# examples are tested against it (internal/release). A v* tag on HEAD that
# disagrees with it is refused, so a release can never carry two versions.
# The date is the commit's, not the wall clock's: two builds of one commit
# are byte for byte the same.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=$(tr -d ' \n' <"$root/VERSION")
if ! [[ $base =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "hack/version.sh: VERSION holds \"$base\", want MAJOR.MINOR.PATCH" >&2
  exit 1
fi
cd "$root"
if ! commit=$(git rev-parse HEAD 2>/dev/null); then
  printf 'version=%s-dev\ncommit=unknown\ndate=1970-01-01T00:00:00Z\n' "$base"
  exit 0
fi
date=$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd HEAD)
tagged=false
for tag in $(git tag --points-at HEAD --list 'v*'); do
  if [[ $tag != "v$base" ]]; then
    echo "hack/version.sh: tag $tag on HEAD disagrees with VERSION $base (want v$base)" >&2
    exit 1
  fi
  tagged=true
done
dirty=
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  dirty=.dirty
fi
version=$base
if [[ $tagged != true || -n $dirty ]]; then
  # "g" as in git describe: a hex string of digits alone with a leading
  # zero would not be valid semver, which helm requires of a chart version.
  version="$base-dev.g${commit:0:12}$dirty"
fi
printf 'version=%s\ncommit=%s\ndate=%s\n' "$version" "$commit" "$date"
