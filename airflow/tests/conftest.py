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


def _airflow_major() -> int:
    from importlib.metadata import version

    return int(version("apache-airflow").split(".", 1)[0])


#: The Airflow line under test: hack/airflow-test.sh runs every test on each line it supports.
AIRFLOW_3 = _airflow_major() >= 3


def _ensure_db() -> None:
    db = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if db.startswith("sqlite:///") and not Path(db[len("sqlite:///") :]).exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


_ensure_db()

STUB = r"""#!/usr/bin/env bash
# Stand-in for sparkcm-hook: records its arguments, then behaves as STUB_* says.
printf '%s\n' "$@" > "${STUB_ARGS_FILE:?}"
# Its process group (run_cleanup starts it in a new session): what a timeout must kill.
echo $$ > "${STUB_ARGS_FILE}.pgid"
# The kubeconfig exists only while the binary runs: keep a copy for the test to read.
prev=
for a in "$@"; do
  if [ "$prev" = "--kubeconfig" ]; then cp "$a" "${STUB_ARGS_FILE}.kubeconfig"; fi
  prev=$a
done
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

    @property
    def kubeconfig(self) -> dict[str, Any] | None:
        """The kubeconfig the binary was given, as it was while it ran."""
        import yaml

        path = Path(f"{self.args_file}.kubeconfig")
        return yaml.safe_load(path.read_text()) if path.exists() else None


def kubeconfig_file(path: Path, server: str, token: str) -> Path:
    """A kubeconfig for a cluster that is never dialled: the stub binary only records it."""
    import yaml

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, extra: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kubernetes", "extra": extra}))


@pytest.fixture
def stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stub:
    path = tmp_path / "sparkcm-hook"
    path.write_text(STUB)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    args_file = tmp_path / "stub-args.txt"
    monkeypatch.setenv("STUB_ARGS_FILE", str(args_file))
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", str(path))
    # The cleanup runs with the Spark task's Kubernetes connection: give the default one a cluster.
    default_config = kubeconfig_file(tmp_path / "default-kubeconfig", "https://default.invalid:6443", "default-token")
    set_connection(monkeypatch, "kubernetes_default", {"kube_config_path": str(default_config)})
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


# Where Airflow 2 and 3 keep the same thing in different modules. Airflow 3 split the task SDK
# (airflow.sdk: DAG authoring, the task process's listener manager) from the server
# (airflow.dag_processing, airflow.models); Airflow 2 has one package for both.


def dagbag_class() -> Any:
    if AIRFLOW_3:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag


def xcom_model() -> Any:
    if AIRFLOW_3:
        from airflow.models.xcom import XComModel

        return XComModel
    from airflow.models.xcom import XCom

    return XCom


def task_listener_manager() -> Any:
    """The listener manager the task process calls (where the cleanup normally runs)."""
    if AIRFLOW_3:
        from airflow.sdk.listener import get_listener_manager
    else:
        from airflow.listeners.listener import get_listener_manager
    return get_listener_manager()


def dag_class() -> Any:
    if AIRFLOW_3:
        from airflow.sdk import DAG
    else:
        from airflow import DAG
    return DAG


def bash_operator_class() -> Any:
    try:
        from airflow.providers.standard.operators.bash import BashOperator
    except ImportError:  # Airflow 2 without the standard provider
        from airflow.operators.bash import BashOperator
    return BashOperator
