#!/usr/bin/env bash
# Fails when a tracked file over 1 MiB appears outside a testdata folder: a
# clone should carry source, never a build artefact (a binary, an image
# tarball, a packaged chart), which belongs in dist/ or a release.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
limit=$((1024 * 1024))
big=0
while IFS= read -r -d '' f; do
  case "/$f" in */testdata/*) continue ;; esac
  [[ -f $f && ! -L $f ]] || continue
  size=$(stat -c %s -- "$f")
  if ((size > limit)); then
    echo "check-size: $f is $size bytes, over 1 MiB: build artefacts belong in dist/, not in git" >&2
    big=1
  fi
done < <(git ls-files -z)
exit "$big"
