"""run_cleanup: the command line, the outcome of each exit code, and the failure modes."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from sparkcm_airflow.cleanup import CleanupTarget, build_command, run_cleanup
from sparkcm_airflow.config import Settings, load_settings


def settings_for(stub, **kw) -> Settings:
    return Settings(binary=str(stub.path), **kw)


def test_target_needs_exactly_one_selector_and_a_namespace():
    with pytest.raises(ValueError):
        CleanupTarget(namespace="jobs")
    with pytest.raises(ValueError):
        CleanupTarget(namespace="jobs", driver_pod="a-driver", spark_app="a")
    with pytest.raises(ValueError):
        CleanupTarget(namespace="", driver_pod="a-driver")


@pytest.mark.parametrize(
    ("target", "selector"),
    [
        (CleanupTarget("jobs", driver_pod="pi-x-driver"), ["--driver-pod", "pi-x-driver"]),
        (CleanupTarget("jobs", spark_app="pi-x"), ["--spark-app", "pi-x"]),
        (CleanupTarget("jobs", app_id="spark-0a"), ["--app-id", "spark-0a"]),
    ],
)
def test_command_line(target, selector):
    s = Settings(timeout=60, extra_args=("--context", "prod"), dry_run=True)
    assert build_command(target, s, "/bin/sparkcm-hook") == [
        "/bin/sparkcm-hook", "cleanup", "-n", "jobs", *selector,
        "-o", "json", "--timeout", "55s", "--dry-run", "--context", "prod",
    ]  # fmt: skip


def test_short_timeouts_leave_the_binarys_own_budget_alone():
    cmd = build_command(CleanupTarget("jobs", spark_app="a"), Settings(timeout=3), "sparkcm-hook")
    assert "--timeout" not in cmd


def test_success_parses_the_json_report(stub, caplog):
    caplog.set_level(logging.INFO, logger="sparkcm_airflow")
    result = run_cleanup(CleanupTarget("jobs", driver_pod="pi-x-driver", source="xcom"), settings_for(stub))
    assert result.ok and result.exit_code == 0
    assert result.deleted == ["spark-drv-1-conf-map"]
    assert result.report is not None and result.report["namespace"] == "jobs"
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--driver-pod", "pi-x-driver"]
    assert "deleted 1" in caplog.text and "spark-drv-1-conf-map" in caplog.text


@pytest.mark.parametrize(
    "report",
    [
        {
            "entries": [
                {"name": "a", "decision": "deleted"},
                {"name": "w", "decision": "would-delete"},
                {"name": "f", "decision": "failed", "reason": "boom"},
                {"name": "s", "decision": "skipped", "reason": "in use"},
            ],
            "namespace": "jobs",
            "counts": {"deleted": 2, "skipped": 1, "failed": 1},
        },
        # What binaries printed before the entries were one list.
        {
            "namespace": "jobs",
            "deleted": [{"name": "a"}, {"name": "w"}],
            "skipped": [{"name": "s"}],
            "failed": [{"name": "f"}],
        },
    ],
    ids=["entries", "grouped"],
)
def test_the_report_is_read_by_decision(stub, report):
    stub.behave(stdout=json.dumps(report))
    result = run_cleanup(CleanupTarget("jobs", spark_app="a"), settings_for(stub))
    assert (result.deleted, result.skipped, result.failed) == (["a", "w"], ["s"], ["f"])


@pytest.mark.parametrize(
    ("code", "words"),
    [(1, "failed after retries"), (2, "invalid usage"), (3, "refused"), (4, "still running")],
)
def test_each_documented_failure_exit_code_is_reported_not_raised(stub, code, words):
    stub.behave(exit=code, stderr="error: something")
    result = run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), settings_for(stub))
    assert not result.ok and result.exit_code == code
    assert words in result.reason
    assert "error: something" in result.stderr


def test_missing_binary_is_logged_not_raised(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="sparkcm_airflow")
    for binary in (str(tmp_path / "nope" / "sparkcm-hook"), "sparkcm-hook-not-on-path"):
        result = run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), Settings(binary=binary))
        assert not result.ok and result.exit_code is None
        assert "not found" in result.reason
    assert "not found" in caplog.text


def test_binary_that_cannot_start_is_logged_not_raised(tmp_path):
    bad = tmp_path / "sparkcm-hook"
    bad.write_text("not a program")
    bad.chmod(0o755)
    result = run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), Settings(binary=str(bad)))
    assert not result.ok and result.exit_code is None
    assert "cannot start" in result.reason


def test_timeout_kills_the_binary_and_everything_it_started(stub):
    stub.behave(sleep=30)
    start = time.monotonic()
    result = run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), settings_for(stub, timeout=1))
    elapsed = time.monotonic() - start
    assert not result.ok and result.exit_code is None
    assert "timed out" in result.reason
    assert elapsed < 25, elapsed  # the 1 s limit, not the stub's 30 s sleep
    # The stub's `sleep` child was in the same process group and is killed too. Only that group is
    # looked at: other programs on a shared machine may well be running `sleep 30` of their own.
    # SIGKILL to a group is delivered as each member next runs: on a loaded machine the child can
    # still be alive the instant the call returns, so the group is watched until it is empty (it
    # would stay for the stub's 30 s if the child had not been sent the signal).
    pgid = int(Path(f"{stub.args_file}.pgid").read_text())
    deadline = time.monotonic() + 20
    alive = [p for p in Path("/proc").glob("[0-9]*") if _in_group(p, pgid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in Path("/proc").glob("[0-9]*") if _in_group(p, pgid)]
    assert not alive


def _in_group(proc: Path, pgid: int) -> bool:
    try:
        stat = (proc / "stat").read_text()
    except OSError:
        return False
    # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its closing parenthesis.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[2]) == pgid and fields[0] != "Z"


def test_non_json_stdout_is_tolerated(stub):
    stub.behave(stdout="deleted spark-drv-1-conf-map")
    result = run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), settings_for(stub))
    assert result.ok and result.report is None and result.deleted == []


def test_environment_reaches_the_binary(stub, monkeypatch, tmp_path):
    # SPARKCM_* variables (e.g. SPARKCM_KUBECONFIG) are inherited by the binary.
    script = stub.path.read_text().replace(
        'exit "${STUB_EXIT:-0}"', 'echo "$SPARKCM_KUBECONFIG" >> "$STUB_ARGS_FILE"\nexit 0'
    )
    stub.path.write_text(script)
    monkeypatch.setenv("SPARKCM_KUBECONFIG", "/etc/kube/config")
    run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), settings_for(stub))
    assert stub.args[-1] == "/etc/kube/config"


def test_settings_come_from_the_environment_and_bad_values_keep_defaults(monkeypatch):
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "false")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", "/opt/sparkcm-hook")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__NAMESPACE", "spark-jobs")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__EXTRA_ARGS", "--context 'my ctx' -v 1")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__TIMEOUT", "not-a-number")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__OPERATORS", "SparkKubernetesOperator, MySparkOperator")
    s = load_settings()
    assert s.enabled is False
    assert s.binary == "/opt/sparkcm-hook"
    assert s.namespace == "spark-jobs"
    assert s.extra_args == ("--context", "my ctx", "-v", "1")
    assert s.timeout == Settings().timeout
    assert s.operators == ("SparkKubernetesOperator", "MySparkOperator")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__TIMEOUT", "7.5")
    assert load_settings().timeout == 7.5


def test_settings_come_from_airflow_config(monkeypatch, tmp_path):
    """The [sparkcm_hook] section of airflow.cfg is read when no env variable overrides it."""
    from airflow.configuration import conf

    for key in [k for k in os.environ if k.startswith("AIRFLOW__SPARKCM_HOOK__")]:
        monkeypatch.delenv(key)
    conf.read_dict({"sparkcm_hook": {"binary": "/usr/local/bin/sparkcm-hook", "timeout": "42"}})
    try:
        s = load_settings()
        assert s.binary == "/usr/local/bin/sparkcm-hook" and s.timeout == 42
    finally:
        conf.remove_section("sparkcm_hook")


def test_real_binary_against_an_unreachable_cluster_fails_cleanly(tmp_path):
    """The real binary, pointed at a closed port: exit 1 after its own retries, within our limit."""
    binary = os.environ.get("SPARKCM_HOOK_BIN")
    if not binary or not os.access(binary, os.X_OK):
        if os.environ.get("SPARKCM_AIRFLOW_E2E", "0") != "0":
            pytest.fail("SPARKCM_HOOK_BIN is not set to the built sparkcm-hook")
        pytest.skip("SPARKCM_HOOK_BIN not set (hack/airflow-test.sh sets it)")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "jobs"}}],
                "current-context": "x",
            }
        )
    )
    s = Settings(binary=binary, timeout=8, extra_args=("--kubeconfig", str(kubeconfig)))
    start = time.monotonic()
    result = run_cleanup(CleanupTarget("jobs", driver_pod="a-driver"), s)
    assert time.monotonic() - start < 12
    assert not result.ok
    assert result.exit_code == 1 or "timed out" in result.reason, (result.exit_code, result.reason, result.stderr)
