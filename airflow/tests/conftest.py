"""Shared fixtures: Airflow home, a stub sparkcm-hook binary, fake task instances.

hack/airflow-test.sh sets the Airflow environment; the defaults below only make ``pytest`` runnable
by hand in an already prepared virtualenv.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

AIRFLOW_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = AIRFLOW_DIR.parent
EXAMPLES_DIR = AIRFLOW_DIR / "examples"

# Airflow reads its configuration when first imported: set it before any test module imports it.
if "AIRFLOW_HOME" not in os.environ:
    _home = Path(tempfile.mkdtemp(prefix="sparkcm-airflow-home-"))
    os.environ["AIRFLOW_HOME"] = str(_home)
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_home}/airflow.db")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLES_DIR))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# The listener plugin is installed in the test environment; tests that want it turn it on.
os.environ["AIRFLOW__SPARKCM_HOOK__ENABLED"] = "False"


def _ensure_db() -> None:
    db = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///") :]).exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


_ensure_db()

STUB = r"""#!/usr/bin/env bash
# Stand-in for sparkcm-hook: records its arguments, then behaves as STUB_* says.
printf '%s\n' "$@" > "${STUB_ARGS_FILE:?}"
if [ -n "${STUB_SLEEP:-}" ]; then sleep "$STUB_SLEEP"; fi
if [ -n "${STUB_STDERR:-}" ]; then printf '%s\n' "$STUB_STDERR" >&2; fi
if [ -n "${STUB_STDOUT:-}" ]; then printf '%s\n' "$STUB_STDOUT"; fi
exit "${STUB_EXIT:-0}"
"""


@dataclass
class Stub:
    """A fake ``sparkcm-hook`` executable and what it was called with."""

    path: Path
    args_file: Path
    monkeypatch: pytest.MonkeyPatch

    def behave(self, *, exit: int = 0, stdout: str = "", stderr: str = "", sleep: float | None = None) -> None:
        self.monkeypatch.setenv("STUB_EXIT", str(exit))
        self.monkeypatch.setenv("STUB_STDOUT", stdout)
        self.monkeypatch.setenv("STUB_STDERR", stderr)
        if sleep is None:
            self.monkeypatch.delenv("STUB_SLEEP", raising=False)
        else:
            self.monkeypatch.setenv("STUB_SLEEP", str(sleep))

    @property
    def called(self) -> bool:
        return self.args_file.exists()

    @property
    def args(self) -> list[str]:
        return self.args_file.read_text().splitlines() if self.called else []


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stub:
    path = tmp_path / "sparkcm-hook"
    path.write_text(STUB)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    args_file = tmp_path / "stub-args.txt"
    monkeypatch.setenv("STUB_ARGS_FILE", str(args_file))
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", str(path))
    s = Stub(path, args_file, monkeypatch)
    report = {
        "entries": [{"name": "spark-drv-1-conf-map", "decision": "deleted"}],
        "namespace": "jobs",
        "appIds": ["spark-1"],
        "dryRun": False,
        "seconds": 0.1,
        "counts": {"deleted": 1, "skipped": 0, "failed": 0},
    }
    s.behave(stdout=json.dumps(report))
    return s


@dataclass
class FakeTI:
    """Enough of a RuntimeTaskInstance for the listener and the callback."""

    task: Any = None
    task_id: str = "spark_pi"
    map_index: int = -1
    xcoms: dict[str, Any] = field(default_factory=dict)
    fail_xcom: bool = False
    pulls: list[dict[str, Any]] = field(default_factory=list)

    def xcom_pull(self, **kwargs: Any) -> Any:
        self.pulls.append(kwargs)
        if self.fail_xcom:
            raise RuntimeError("XCom backend unavailable")
        return self.xcoms.get(kwargs.get("key", "return_value"))


@pytest.fixture
def spark_operator():
    """A real SparkKubernetesOperator (not in a DAG), as the task runner holds it."""
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    def make(**kwargs: Any) -> SparkKubernetesOperator:
        kwargs.setdefault("task_id", "spark_pi")
        kwargs.setdefault("namespace", "jobs")
        kwargs.setdefault("application_file", str(EXAMPLES_DIR / "spark-application.yaml"))
        return SparkKubernetesOperator(**kwargs)

    return make


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Clean ``[sparkcm_hook]`` environment for one test (the listener turned on)."""
    for key in list(os.environ):
        if key.startswith("AIRFLOW__SPARKCM_HOOK__") and key != "AIRFLOW__SPARKCM_HOOK__BINARY":
            monkeypatch.delenv(key)
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "True")
    yield monkeypatch
