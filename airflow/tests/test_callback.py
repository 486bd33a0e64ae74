"""The on_failure_callback helper: finds the application, runs the binary, never raises."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from conftest import FakeTI

from sparkcm_airflow import callback
from sparkcm_airflow.callback import cleanup_on_failure, make_cleanup_callback, run_for_context


def test_uses_the_driver_pod_from_xcom(stub, spark_operator):
    ti = FakeTI(task=spark_operator(), xcoms={"pod_name": "spark-pi-ab12cd34-driver", "pod_namespace": "jobs"})
    cleanup_on_failure({"ti": ti, "task": ti.task})
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--driver-pod", "spark-pi-ab12cd34-driver"]
    assert {"task_ids": "spark_pi", "key": "pod_name"} in ti.pulls


def test_mapped_task_pulls_its_own_map_index(stub, spark_operator):
    ti = FakeTI(task=spark_operator(), map_index=3, xcoms={"pod_name": "p-driver", "pod_namespace": "jobs"})
    cleanup_on_failure({"ti": ti})
    assert {"task_ids": "spark_pi", "key": "pod_name", "map_indexes": 3} in ti.pulls


def test_without_xcom_uses_the_sparkapplication_the_operator_created(stub, spark_operator):
    """Start-up failed (FAILED or timed out before the driver ran): no XCom, but the app exists."""
    op = spark_operator(namespace="jobs")
    op.launcher = SimpleNamespace(spark_obj_spec={"metadata": {"name": "spark-pi-zz99yy88", "namespace": "jobs"}})
    cleanup_on_failure({"ti": FakeTI(task=op), "task": op})
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--spark-app", "spark-pi-zz99yy88"]


def test_an_apache_operator_application_is_named_with_its_group(stub, spark_operator):
    """A spark.apache.org application of the same name as a Kubeflow one must not be mistaken for it."""
    op = spark_operator(namespace="jobs")
    meta = {"name": "spark-pi-zz99yy88", "namespace": "jobs"}
    op.launcher = SimpleNamespace(spark_obj_spec={"apiVersion": "spark.apache.org/v1", "metadata": meta})
    cleanup_on_failure({"ti": FakeTI(task=op), "task": op})
    want = "sparkapplications.spark.apache.org/spark-pi-zz99yy88"
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--spark-app", want]


def test_without_xcom_uses_the_pod_the_operator_attached_to(stub, spark_operator):
    op = spark_operator()
    op.pod = SimpleNamespace(metadata=SimpleNamespace(name="spark-pi-q-driver", namespace="other"))
    cleanup_on_failure({"ti": FakeTI(task=op, fail_xcom=True)})
    assert stub.args[:5] == ["cleanup", "-n", "other", "--driver-pod", "spark-pi-q-driver"]


def test_unknown_application_runs_nothing(stub, spark_operator, caplog):
    """The operator never got to submit: a configured name alone is not trusted."""
    caplog.set_level(logging.WARNING, logger="sparkcm_airflow")
    op = spark_operator(name="spark-pi")
    assert run_for_context({"ti": FakeTI(task=op)}) is None
    assert not stub.called
    assert "cannot tell which Spark application" in caplog.text


def test_unrendered_namespace_is_not_used(stub, spark_operator, monkeypatch):
    op = spark_operator(namespace="{{ params.namespace }}")
    ti = FakeTI(task=op, xcoms={"pod_name": "p-driver"})
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__NAMESPACE", "fallback-ns")
    cleanup_on_failure({"ti": ti})
    assert stub.args[:3] == ["cleanup", "-n", "fallback-ns"]


@pytest.mark.parametrize("configured", [None, "", "  "])
def test_an_empty_namespace_never_reaches_the_binary(stub, spark_operator, monkeypatch, configured):
    """Empty namespaces from XCom, the operator and the configuration: nothing runs, never ``-n ""``."""
    if configured is None:
        monkeypatch.delenv("AIRFLOW__SPARKCM_HOOK__NAMESPACE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__NAMESPACE", configured)
    ti = FakeTI(task=spark_operator(namespace=""), xcoms={"pod_name": "p-driver", "pod_namespace": ""})
    assert run_for_context({"ti": ti}) is None
    assert not stub.called


def test_factory_settings_override_configuration(stub, spark_operator, monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", str(tmp_path / "missing"))
    cb = make_cleanup_callback(
        binary=str(stub.path), extra_args="--context prod", timeout=30, dry_run=True, use_worker_credentials=True
    )
    cb({"ti": FakeTI(task=spark_operator(), xcoms={"pod_name": "p-driver", "pod_namespace": "jobs"})})
    assert stub.args[-5:] == ["--timeout", "25s", "--dry-run", "--context", "prod"]


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"ti": None},
        {"ti": object()},  # no task_id, no xcom_pull
        {"ti": FakeTI(task=None, fail_xcom=True)},
    ],
)
def test_never_raises_on_odd_contexts(stub, context):
    assert cleanup_on_failure(context) is None


def test_never_raises_when_the_binary_is_missing(spark_operator, monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="sparkcm_airflow")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", str(tmp_path / "missing"))
    ti = FakeTI(task=spark_operator(), xcoms={"pod_name": "p-driver", "pod_namespace": "jobs"})
    result = run_for_context({"ti": ti})
    assert result is not None and not result.ok and "not found" in result.reason
    assert "not found" in caplog.text


def test_never_raises_when_the_cluster_is_unreachable(stub, spark_operator):
    stub.behave(exit=1, stderr='error: list pods: dial tcp 127.0.0.1:6443: connect: connection refused')
    ti = FakeTI(task=spark_operator(), xcoms={"pod_name": "p-driver", "pod_namespace": "jobs"})
    result = run_for_context({"ti": ti})
    assert result is not None and result.exit_code == 1 and "connection refused" in result.stderr


def test_never_raises_and_returns_in_time_when_the_binary_hangs(stub, spark_operator):
    stub.behave(sleep=30)
    ti = FakeTI(task=spark_operator(), xcoms={"pod_name": "p-driver", "pod_namespace": "jobs"})
    start = time.monotonic()
    make_cleanup_callback(timeout=1)({"ti": ti})
    assert time.monotonic() - start < 5


def test_never_raises_on_internal_errors(stub, spark_operator, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(callback, "find_target", boom)
    assert cleanup_on_failure({"ti": FakeTI(task=spark_operator())}) is None
    monkeypatch.setattr(callback, "load_settings", boom)
    assert make_cleanup_callback()({"ti": FakeTI(task=spark_operator())}) is None
