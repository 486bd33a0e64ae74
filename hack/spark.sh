#!/usr/bin/env bash
# Installs the Spark versions the tests run (pip's pyspark, which ships
# bin/spark-submit and the spark-kubernetes jars) into one cache folder per
# version, and prints those folders, one a line, in the order of the pins.
# A warm run only checks a stamp file in each folder.
#
#   hack/spark.sh            every pinned version
#   hack/spark.sh 3.5.9      only these (each must be pinned)
#   hack/spark.sh --pinned   print the pinned versions, install nothing
#
# Spark needs Java 17 or newer: JAVA_HOME's, else the java on PATH. When there
# is none and this runs as root, it installs Debian's openjdk-17-jre-headless;
# otherwise it prints one line saying why and exits 3, so that callers can
# skip the Spark tests with that reason instead of failing or passing silently.
#
# SPARKCM_PYTHON picks the interpreter (default python3.11, else python3): the
# client-mode tests run their drivers in it, so the folder is keyed by its
# version too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="${SPARKCM_CACHE_DIR:-$root/.cache}/spark"

# The newest 3.5 patch and the newest 4.x on PyPI when they were pinned.
pinned=(3.5.9 4.3.0)

if [[ "${1:-}" == "--pinned" ]]; then
  printf '%s\n' "${pinned[@]}"
  exit 0
fi

versions=("$@")
if [[ ${#versions[@]} -eq 0 ]]; then
  versions=("${pinned[@]}")
fi
for v in "${versions[@]}"; do
  if [[ " ${pinned[*]} " != *" $v "* ]]; then
    echo "spark.sh: $v is not pinned (pinned: ${pinned[*]})" >&2
    exit 2
  fi
done

# java_major prints the major version of the java binary $1 (8 for 1.8).
java_major() {
  "$1" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}

find_java() {
  local j
  for j in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)"; do
    if [[ -n "$j" && -x "$j" ]] && [[ $(java_major "$j") -ge 17 ]]; then
      echo "$j"
      return 0
    fi
  done
  return 1
}

if ! java=$(find_java); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "spark.sh: no Java 17 or newer; installing Debian's openjdk-17-jre-headless" >&2
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; } >&2; then
      echo "spark.sh: no Java 17 or newer, and apt-get install openjdk-17-jre-headless failed: the Spark tests cannot run" >&2
      exit 3
    fi
    hash -r
    java=$(find_java) || { echo "spark.sh: openjdk-17-jre-headless installed, yet no java 17 on PATH" >&2; exit 3; }
  else
    why="not root"
    [[ $(id -u) -eq 0 ]] && why="no apt-get"
    echo "spark.sh: no Java 17 or newer (JAVA_HOME or java on PATH), and $why to install openjdk-17-jre-headless: the Spark tests cannot run" >&2
    exit 3
  fi
fi

python="${SPARKCM_PYTHON:-}"
if [[ -z "$python" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
pyexe=$("$python" -c 'import sys; print(sys.executable)')

for v in "${versions[@]}"; do
  dir="$cache/pyspark-${v}_py${pyver}"
  if [[ ! -f "$dir/.complete" ]]; then
    # One install at a time: go test runs packages in parallel, and a second
    # install would replace the folder under the first one's feet.
    mkdir -p "$cache"
    exec 9>"$cache/.lock"
    flock 9
  fi
  if [[ ! -f "$dir/.complete" ]]; then
    echo "spark.sh: installing pyspark $v from PyPI into $dir (a cold install downloads about 400 MB)" >&2
    tmp="$dir.tmp.$$"
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    # --target keeps it out of any environment: the folder is SPARK_HOME's
    # parent and the PYTHONPATH of client-mode drivers.
    "$python" -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
      --target "$tmp" "pyspark==$v" >&2
    chmod +x "$tmp"/pyspark/bin/* 2>/dev/null || true
    [[ -x "$tmp/pyspark/bin/spark-submit" ]] || { echo "spark.sh: pyspark $v has no bin/spark-submit" >&2; exit 1; }
    printf '%s\n' "$v" >"$tmp/version"
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    trap - EXIT
  fi
  # The java and python found on this run, for the tests to start Spark with
  # (replaced atomically: other test processes may be reading them).
  for f in java python; do
    want=$([[ $f == java ]] && echo "$java" || echo "$pyexe")
    if [[ "$(cat "$dir/$f" 2>/dev/null)" != "$want" ]]; then
      printf '%s\n' "$want" >"$dir/$f.tmp.$$"
      mv "$dir/$f.tmp.$$" "$dir/$f"
    fi
  done
  echo "$dir"
done
