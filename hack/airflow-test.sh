#!/usr/bin/env bash
# Runs the Airflow tests (airflow/tests) in real Airflow, once per supported Airflow line:
#
#   line 3: apache-airflow 3.x  (airflow/requirements-test.txt,
#                                airflow/constraints-py3.11.txt)
#   line 2: apache-airflow 2.x  (airflow/requirements-test-airflow2.txt,
#                                airflow/constraints-airflow2-py3.11.txt)
#
# 1. Per line, a virtualenv with that line's pinned Airflow and cncf-kubernetes
#    provider (every other package pinned by its constraints file), cached under
#    ${SPARKCM_CACHE_DIR:-<repo>/.cache}/airflow-venv-<hash of the pins>. A cold
#    install takes about 2 minutes per line; a warm run only checks a stamp file.
# 2. The project's airflow package (the provider) is reinstalled into each venv
#    on every run, so the tests see the current source.
# 3. For the end-to-end DAG runs: bin/sparkcm-hook (make build), and the test
#    control plane (internal/cmd/devenv) and the Spark Operator stand-in
#    (internal/cmd/fakeoperator) built into the cache; the stand-in runs the
#    real spark-submit from hack/spark.sh's cache (SPARKCM_SPARK). One control
#    plane is started here and shared by every line (SPARKCM_E2E_KUBECONFIG):
#    each test makes its own namespace, so the lines never see each other's objects.
# 4. pytest per line, each with its own AIRFLOW_HOME; this script exits 0 only
#    when pytest passed on every line and ran at least one test on each.
#    A skipped test, or the Spark fallback below, is a skipped tier: with CI set
#    it fails the run; otherwise it is recorded in $SPARKCM_TIER_LOG (hack/lib.sh).
#
# SPARKCM_AIRFLOW_LINES picks the lines (default "3 2"), e.g. SPARKCM_AIRFLOW_LINES=2.
# SPARKCM_AIRFLOW_E2E=0 skips the end-to-end DAG runs (and says so); by default
# they are required, and a missing piece fails the run.
# SPARKCM_PYTHON picks the interpreter (default python3.11, else python3).
# Extra arguments go to pytest, e.g. hack/airflow-test.sh -k listener.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
source "$root/hack/lib.sh"
cache="${SPARKCM_CACHE_DIR:-$root/.cache}"
lines="${SPARKCM_AIRFLOW_LINES:-3 2}"

python="${SPARKCM_PYTHON:-}"
if [[ -z "$python" ]]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# pins LINE: "<requirements> <constraints>" of one Airflow line.
pins() {
  case "$1" in
    3) echo "$root/airflow/requirements-test.txt $root/airflow/constraints-py3.11.txt" ;;
    2) echo "$root/airflow/requirements-test-airflow2.txt $root/airflow/constraints-airflow2-py3.11.txt" ;;
    *) echo "airflow-test: unknown Airflow line '$1' in SPARKCM_AIRFLOW_LINES (known: 3 2)" >&2; return 2 ;;
  esac
}
for line in $lines; do pins "$line" >/dev/null || exit 2; done

# venv_for LINE: creates (once) the cached venv of one Airflow line, reinstalls
# the project's package into it, and prints its path.
venv_for() {
  local line=$1 req cons hash venv
  read -r req cons <<<"$(pins "$line")"
  if [[ "$pyver" != "3.11" ]]; then
    echo "airflow-test: warning: the pins in $(basename "$cons") were resolved on Python 3.11; using $pyver" >&2
  fi
  hash=$(cat "$req" "$cons" <(echo "python $pyver") | sha256sum | cut -c1-16)
  venv="$cache/airflow-venv-$hash"
  if [[ ! -f "$venv/.complete" ]]; then
    echo "airflow-test: creating $venv for Airflow $line (pinned, from PyPI; a cold install takes about 2 minutes)" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    # A venv cannot be moved after creation: build it in place, stamp it when whole.
    "$python" -m venv "$venv" || return 1
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$cons" -r "$req" >&2; then
      rm -rf "$venv"
      echo "airflow-test: pip install failed (Airflow $line)" >&2
      return 1
    fi
    touch "$venv/.complete" || return 1
  fi
  echo "airflow-test: installing the project's airflow package into the Airflow $line venv" >&2
  # (errexit does not reach into $(venv_for ...): every failure returns explicitly.)
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
      --no-build-isolation --force-reinstall "$root/airflow" >&2; then
    echo "airflow-test: installing the project's airflow package failed (Airflow $line)" >&2
    return 1
  fi
  rm -rf "$root/airflow/build" "$root/airflow/"*.egg-info
  echo "$venv"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sparkcm-airflow-test.XXXXXX")
shared_devenv=
finish() {
  if [[ -n "$shared_devenv" ]] && kill -0 "$shared_devenv" 2>/dev/null; then
    kill -TERM "$shared_devenv" 2>/dev/null || true
    wait "$shared_devenv" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap finish EXIT

export SPARKCM_AIRFLOW_E2E="${SPARKCM_AIRFLOW_E2E:-1}"
if [[ "$SPARKCM_AIRFLOW_E2E" != "0" ]]; then
  # The real binary, as `make build` makes it.
  if [[ -z "${SPARKCM_HOOK_BIN:-}" ]]; then
    if [[ -f "$root/Makefile" ]] && grep -q '^build:' "$root/Makefile"; then
      make -s -C "$root" build >&2
    else
      (cd "$root" && CGO_ENABLED=0 go build -trimpath -o bin/sparkcm-hook ./cmd/sparkcm-hook) >&2
    fi
    export SPARKCM_HOOK_BIN="$root/bin/sparkcm-hook"
  fi
  # In this run's own folder: the cache is shared by every checkout on the
  # machine, and another run's build must not replace these binaries mid-run.
  e2ebin="$work/bin"
  mkdir -p "$e2ebin"
  for cmd in devenv fakeoperator; do
    if [[ ! -d "$root/internal/cmd/$cmd" ]]; then
      echo "airflow-test: internal/cmd/$cmd does not exist yet: the end-to-end DAG runs cannot run" >&2
      echo "airflow-test: (SPARKCM_AIRFLOW_E2E=0 runs everything else)" >&2
      exit 1
    fi
    (cd "$root" && CGO_ENABLED=0 go build -o "$e2ebin/$cmd" "./internal/cmd/$cmd") >&2
  done
  export SPARKCM_E2E_DEVENV="$e2ebin/devenv" SPARKCM_E2E_FAKEOPERATOR="$e2ebin/fakeoperator"
  if [[ -z "${SPARKCM_SPARK:-}" ]]; then
    # The stand-in submits with real Spark (the newest pinned 3.5): the maps
    # the tests clean are Spark's own. Without Java it falls back to the
    # fixtures, and says so here.
    rc=0
    SPARKCM_SPARK=$("$root/hack/spark.sh" "$("$root/hack/spark.sh" --pinned | head -n1)") || rc=$?
    if [[ $rc -eq 3 ]]; then
      tier_unavailable spark "airflow: no Java 17 for the Spark Operator stand-in's spark-submit (hack/spark.sh said why above)" || exit 1
      echo "airflow-test: no Java for Spark: the Spark Operator stand-in makes Spark's maps from internal/sparkfixture instead of spark-submit" >&2
      SPARKCM_SPARK=
    elif [[ $rc -ne 0 ]]; then
      exit "$rc"
    fi
    export SPARKCM_SPARK
  fi
  if [[ -z "${SPARKCM_CONTROLPLANE_BIN:-}" ]]; then
    # Warm: prints the cached folder at once; cold: builds etcd and kube-apiserver & co.
    # (about 5 minutes). Done here so that devenv finds them ready.
    SPARKCM_CONTROLPLANE_BIN=$("$root/hack/controlplane.sh")
    export SPARKCM_CONTROLPLANE_BIN
  fi
  if [[ -z "${SPARKCM_E2E_KUBECONFIG:-}" ]]; then
    # One control plane for every line: starting it is most of an e2e run's fixed cost.
    echo "airflow-test: starting the shared control plane (internal/cmd/devenv)" >&2
    (cd "$root" && exec "$e2ebin/devenv" up --dir "$work/devenv" --controller-manager) \
      >/dev/null 2>"$work/devenv.log" &
    shared_devenv=$!
    for _ in $(seq 1 1500); do
      [[ -f "$work/devenv/ready" ]] && break
      if ! kill -0 "$shared_devenv" 2>/dev/null; then
        tail -n 50 "$work/devenv.log" >&2
        echo "airflow-test: the control plane exited before it was ready" >&2
        exit 1
      fi
      sleep 0.2
    done
    if [[ ! -f "$work/devenv/ready" ]]; then
      tail -n 50 "$work/devenv.log" >&2
      echo "airflow-test: the control plane was not ready after 300s" >&2
      exit 1
    fi
    export SPARKCM_E2E_KUBECONFIG="$work/devenv/kubeconfig"
  fi
fi

# report_of PYTHON JUNIT: the first line is how many tests neither failed
# nor were skipped; each further line is one skip and its reason.
report_of() {
  "$1" - "$2" <<'EOF'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
n = sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) - int(s.get("failures", 0)) - int(s.get("errors", 0)) for s in suites)
print(n)
for case in root.iter("testcase"):
    for skip in case.findall("skipped"):
        why = " ".join((skip.get("message") or "").split())
        print(f"{case.get('name')}: {why}")
EOF
}

# run_line LINE [pytest args]: the whole test suite in one Airflow line's venv.
run_line() {
  local line=$1 venv home junit rc passed report skipped
  shift
  venv=$(venv_for "$line") || return 1
  home="$work/airflow-$line-home"
  mkdir -p "$home" || return 1
  export AIRFLOW_HOME="$home"
  export AIRFLOW__CORE__DAGS_FOLDER="$root/airflow/examples"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__PLUGINS_FOLDER="$home/plugins"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$home/airflow.db"
  export AIRFLOW__LOGGING__LOGGING_LEVEL=INFO
  export PYTHONDONTWRITEBYTECODE=1

  echo "airflow-test: Airflow $line: airflow db migrate (SQLite in $home)" >&2
  "$venv/bin/airflow" db migrate >"$work/db-migrate-$line.log" 2>&1 || {
    cat "$work/db-migrate-$line.log" >&2
    echo "airflow-test: Airflow $line: airflow db migrate failed" >&2
    return 1
  }

  junit="$work/junit-$line.xml"
  set +e
  (cd "$root/airflow" && "$venv/bin/python" -m pytest -p no:cacheprovider --junitxml="$junit" "$@")
  rc=$?
  set -e
  if [[ $rc -eq 5 ]]; then
    echo "airflow-test: Airflow $line: pytest collected no test (exit 5): nothing ran${*:+ for $*}" >&2
    return 1
  fi
  if [[ $rc -ne 0 ]]; then
    echo "airflow-test: Airflow $line: pytest failed (exit $rc)" >&2
    return "$rc"
  fi
  # Exit 0 must mean tests ran, and none skipped unnoticed.
  report=$(report_of "$venv/bin/python" "$junit")
  passed=$(head -n1 <<<"$report")
  skipped=$(tail -n +2 <<<"$report")
  if [[ "$passed" -lt 1 ]]; then
    echo "airflow-test: Airflow $line: no test passed (all skipped or none collected)" >&2
    return 1
  fi
  if [[ -n "$skipped" ]]; then
    echo "airflow-test: Airflow $line: $(wc -l <<<"$skipped") tests skipped:" >&2
    sed 's/^/  /' <<<"$skipped" >&2
    tier_unavailable airflow "Airflow $line: $(wc -l <<<"$skipped") pytest tests skipped, the first: $(head -n1 <<<"$skipped")" || return 1
  fi
  echo "airflow-test: Airflow $line: $passed tests passed" >&2
}

failed=()
for line in $lines; do
  run_line "$line" "$@" || failed+=("$line")
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "airflow-test: failed on Airflow line(s): ${failed[*]}" >&2
  exit 1
fi
echo "airflow-test: passed on Airflow line(s): $lines" >&2
