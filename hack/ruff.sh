#!/usr/bin/env bash
# Installs ruff, pinned in airflow/requirements-lint.txt, from PyPI into a
# virtualenv cached under ${SPARKCM_CACHE_DIR:-<repo>/.cache}/ruff-<hash of the
# pin>, and prints the ruff binary's path. A warm run only checks a stamp file.
# SPARKCM_PYTHON picks the interpreter (default python3.11, else python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/airflow/requirements-lint.txt"
python="${SPARKCM_PYTHON:-}"
if [[ -z "$python" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi
hash=$(sha256sum "$req" | cut -c1-16)
venv="${SPARKCM_CACHE_DIR:-$root/.cache}/ruff-$hash"
if [[ ! -f "$venv/.complete" ]]; then
  echo "installing ruff into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  # A venv cannot be moved after creation: build it in place, stamp it when whole.
  "$python" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2; then
    rm -rf "$venv"
    echo "ruff: pip install failed" >&2
    exit 1
  fi
  touch "$venv/.complete"
fi
echo "$venv/bin/ruff"
