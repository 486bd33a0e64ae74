"""SparkConfigMapCleanupOperator: finds the Spark task's driver Pod in XCom, runs the cleanup with that
task's connection (binary on the worker, or the image in a Pod), and fails visibly when it fails."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import FakeTI

from sparkcm_airflow.operators.cleanup import CleanupFailed, SparkConfigMapCleanupOperator

XCOMS = {"pod_name": "spark-pi-ab12cd34-driver", "pod_namespace": "jobs"}


class FakeDag:
    def __init__(self, *tasks: Any) -> None:
        self.tasks = {t.task_id: t for t in tasks}

    def get_task(self, task_id: str) -> Any:
        return self.tasks[task_id]


def context_for(spark: Any, xcoms: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "ti": FakeTI(task_id="cleanup_configmaps", xcoms=dict(XCOMS if xcoms is None else xcoms)),
        "dag": FakeDag(spark),
    }


def op(**kwargs: Any) -> SparkConfigMapCleanupOperator:
    kwargs.setdefault("task_id", "cleanup_configmaps")
    kwargs.setdefault("spark_task_id", "spark_pi")
    return SparkConfigMapCleanupOperator(**kwargs)


def test_binary_mode_cleans_the_driver_pod_from_xcom(stub, spark_operator):
    out = op().execute(context_for(spark_operator()))
    assert out["ok"] and out["deleted"] == ["spark-drv-1-conf-map"]
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--driver-pod", "spark-pi-ab12cd34-driver"]
    assert "--kubeconfig" in stub.args


def test_binary_mode_uses_the_spark_tasks_connection(stub, spark_operator, tmp_path, monkeypatch):
    from conftest import kubeconfig_file, set_connection

    path = kubeconfig_file(tmp_path / "jobs-cluster", "https://jobs.invalid:6443", "jobs-token")
    set_connection(monkeypatch, "jobs_cluster", {"kube_config_path": str(path)})
    op().execute(context_for(spark_operator(kubernetes_conn_id="jobs_cluster")))
    assert stub.kubeconfig["clusters"][0]["cluster"]["server"] == "https://jobs.invalid:6443"


@pytest.mark.parametrize(
    ("code", "words"),
    [(1, "failed after retries"), (2, "invalid usage"), (3, "refused"), (4, "still running")],
)
def test_a_failed_cleanup_fails_the_task_with_the_exit_codes_meaning(stub, spark_operator, code, words):
    stub.behave(exit=code, stderr="error: something")
    with pytest.raises(CleanupFailed) as info:
        op().execute(context_for(spark_operator()))
    assert info.value.exit_code == code
    assert f"exit {code} (" in str(info.value) and words in str(info.value)


def test_fail_on_error_false_only_warns(stub, spark_operator, caplog):
    caplog.set_level(logging.WARNING)
    stub.behave(exit=3)
    out = op(fail_on_error=False).execute(context_for(spark_operator()))
    assert out["ok"] is False and out["exit_code"] == 3
    assert "cleanup failed (fail_on_error=False" in caplog.text


def test_a_missing_binary_fails_the_task(stub, spark_operator):
    with pytest.raises(CleanupFailed, match="not found"):
        op(binary="/nonexistent/sparkcm-hook").execute(context_for(spark_operator()))


def test_no_driver_pod_in_xcom_skips_and_runs_nothing(stub, spark_operator):
    from sparkcm_airflow.operators.cleanup import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="recorded no driver pod"):
        op().execute(context_for(spark_operator(), xcoms={}))
    assert not stub.called


def test_namespace_falls_back_to_the_spark_tasks_rendered_namespace(stub, spark_operator):
    op().execute(context_for(spark_operator(namespace="team-a"), xcoms={"pod_name": "spark-pi-x-driver"}))
    assert stub.args[:3] == ["cleanup", "-n", "team-a"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "sidecar"},
        {"spark_task_id": None},
        {"driver_pod": "a-driver", "spark_app": "a"},
        {"mode": "pod", "timeout": 30},
    ],
    ids=["unknown-mode", "no-application", "two-names", "binary-only-flag-in-pod-mode"],
)
def test_arguments_that_cannot_work_are_refused_when_the_dag_is_parsed(kwargs):
    with pytest.raises(ValueError):
        op(**kwargs)


def test_a_name_sparkcm_hook_would_refuse_is_a_failure_before_anything_runs(stub, spark_operator):
    with pytest.raises(CleanupFailed) as info:
        op().execute(context_for(spark_operator(), xcoms={"pod_name": "Not A Pod", "pod_namespace": "jobs"}))
    assert info.value.exit_code == 2
    assert not stub.called


def test_an_apache_operator_application_named_with_its_group_is_passed_on(stub, spark_operator):
    name = "sparkapplications.spark.apache.org/spark-pi"
    op(spark_app=name).execute(context_for(spark_operator(), xcoms={}))
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--spark-app", name]


class _FakePod:
    def __init__(self, exit_code: int) -> None:
        term = SimpleNamespace(exit_code=exit_code)
        self.status = SimpleNamespace(
            container_statuses=[SimpleNamespace(name="base", state=SimpleNamespace(terminated=term))]
        )


@pytest.fixture
def captured_pods(monkeypatch):
    """KubernetesPodOperator.execute replaced: records the operator it was called on."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    seen: list[Any] = []
    behaviour: dict[str, int] = {}

    def execute(self, context):
        seen.append(self)
        if behaviour.get("exit"):
            self.remote_pod = _FakePod(behaviour["exit"])
            raise RuntimeError("Pod sparkcm-hook-cleanup returned a failure")

    monkeypatch.setattr(KubernetesPodOperator, "execute", execute)
    return seen, behaviour


def test_pod_mode_runs_the_image_as_the_service_account_with_its_token(captured_pods, spark_operator, stub):
    seen, _ = captured_pods
    op(mode="pod", image="sparkcm-hook:test").execute(
        context_for(spark_operator(kubernetes_conn_id="kubernetes_default"))
    )
    (pod,) = seen
    assert pod.image == "sparkcm-hook:test"
    assert pod.namespace == "jobs"
    assert pod.service_account_name == "sparkcm-hook"
    # The chart's ServiceAccount does not automount its token: the Pod must ask for it.
    assert pod.automount_service_account_token is True
    assert pod.arguments == ["cleanup", "-n", "jobs", "--driver-pod", "spark-pi-ab12cd34-driver"]
    assert not pod.cmds  # the image's entrypoint is the binary
    assert pod.kubernetes_conn_id == "kubernetes_default"
    assert not stub.called


def test_pod_mode_failure_reports_the_containers_exit_code(captured_pods, spark_operator):
    _, behaviour = captured_pods
    behaviour["exit"] = 3
    with pytest.raises(CleanupFailed) as info:
        op(mode="pod").execute(context_for(spark_operator()))
    assert info.value.exit_code == 3
    assert "exit 3 (refused" in str(info.value)
