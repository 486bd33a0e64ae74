#!/usr/bin/env bash
# A virtualenv with the pinned Python build frontend and backend
# (tools/python-build.txt), made once per pin set in the cache, for make
# dist's wheel and sdist of the Airflow package. Prints its python's path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/tools/python-build.txt"
key=$(sha256sum "$req" | cut -c1-16)
dir="${SPARKCM_CACHE_DIR:-$root/.cache}/pybuild-$key"
if [[ -x "$dir/bin/python" ]]; then
  echo "$dir/bin/python"
  exit 0
fi
echo "installing the Python build tools into $dir" >&2
tmp="$dir.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp" >&2
"$tmp/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
rm -rf "$dir"
# Only `python -m` is used, which does not mind the venv having moved.
mv "$tmp" "$dir"
trap - EXIT
echo "$dir/bin/python"
