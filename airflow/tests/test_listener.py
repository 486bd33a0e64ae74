"""The listener plugin: registered through the entry point, picks Spark tasks only, honours
opt-outs and configuration, and never fails or holds up the task beyond its timeout."""

from __future__ import annotations

import inspect
import logging
import threading
import time
from types import SimpleNamespace

import pytest
from conftest import AIRFLOW_3, FakeTI, bash_operator_class, dag_class, task_listener_manager

from sparkcm_airflow import listener

# Airflow 2's hook specs also name the ORM session; Airflow passes one, the tests pass none.
SESSION: dict = {} if AIRFLOW_3 else {"session": None}
XCOMS = {"pod_name": "spark-pi-ab12cd34-driver", "pod_namespace": "jobs"}


def join_background_cleanups() -> None:
    """Let cleanups started on a thread finish inside the test that started them."""
    for t in threading.enumerate():
        if t.name == "sparkcm-hook-cleanup":
            t.join(timeout=15)


def spark_ti(spark_operator, **op_kwargs) -> FakeTI:
    return FakeTI(task=spark_operator(**op_kwargs), xcoms=dict(XCOMS))


def test_plugin_is_found_through_the_entry_point():
    if AIRFLOW_3:
        from airflow.sdk._shared.module_loading import entry_points_with_dist
    else:
        from airflow.utils.entry_points import entry_points_with_dist

    eps = {ep.name: ep.value for ep, _ in entry_points_with_dist("airflow.plugins")}
    assert eps.get("sparkcm_hook") == "sparkcm_airflow.plugin:SparkcmHookPlugin"


# Airflow 2 has one listener manager for the task process and the servers; Airflow 3 has one each.
MANAGERS = ["airflow.sdk.listener", "airflow.listeners.listener"] if AIRFLOW_3 else ["airflow.listeners.listener"]


@pytest.mark.parametrize("manager_module", MANAGERS)
def test_task_runner_and_server_listener_managers_register_it(manager_module):
    import importlib

    manager = importlib.import_module(manager_module).get_listener_manager()
    assert listener in manager.pm.get_plugins()


def test_hook_signatures_match_the_spec_of_this_airflow_line():
    if AIRFLOW_3:
        from airflow.sdk._shared.listeners.spec import taskinstance as spec
    else:
        from airflow.listeners.spec import taskinstance as spec

    for name in ("on_task_instance_success", "on_task_instance_failed"):
        ours = list(inspect.signature(getattr(listener, name)).parameters)
        theirs = list(inspect.signature(getattr(spec, name)).parameters)
        # Airflow 2 also passes the ORM session, which pluggy leaves out for hooks that do not name it.
        assert ours == [p for p in theirs if p != "session"]


def test_runs_after_a_successful_spark_task(stub, settings_env, spark_operator):
    get_listener_manager = task_listener_manager

    get_listener_manager().hook.on_task_instance_success(
        **SESSION, previous_state="running", task_instance=spark_ti(spark_operator)
    )
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--driver-pod", "spark-pi-ab12cd34-driver"]


def test_runs_after_a_failed_spark_task(stub, settings_env, spark_operator):
    get_listener_manager = task_listener_manager

    get_listener_manager().hook.on_task_instance_failed(
        **SESSION, previous_state="running", task_instance=spark_ti(spark_operator), error=RuntimeError("driver failed")
    )
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--driver-pod", "spark-pi-ab12cd34-driver"]


def test_subclasses_and_configured_operator_names_count_as_spark_tasks(stub, settings_env, spark_operator):
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
    BashOperator = bash_operator_class()

    class TeamSparkOperator(SparkKubernetesOperator):
        pass

    ti = FakeTI(
        task=TeamSparkOperator(task_id="spark_pi", namespace="jobs", application_file="x.yaml"), xcoms=dict(XCOMS)
    )
    assert listener.handle(ti, "succeeded") is not None

    class WrappedSpark(BashOperator):
        pass

    ti = FakeTI(task=WrappedSpark(task_id="spark_pi", bash_command="true"), xcoms=dict(XCOMS))
    assert listener.handle(ti, "succeeded") is None
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__OPERATORS", "SparkKubernetesOperator,WrappedSpark")
    assert listener.handle(ti, "succeeded") is not None


def test_ignores_other_operators(stub, settings_env):
    BashOperator = bash_operator_class()

    ti = FakeTI(task=BashOperator(task_id="t", bash_command="true"), xcoms=dict(XCOMS))
    assert listener.handle(ti, "succeeded") is None
    assert not stub.called


def test_server_side_row_is_recognised_by_its_operator_column(stub, settings_env):
    """The scheduler's TaskInstance row of a task whose worker died: task_type / operator only."""
    row = type("TaskInstance", (FakeTI,), {"__module__": "airflow.models.taskinstance"})(
        task=SimpleNamespace(task_type="SparkKubernetesOperator", params={}, dag=None), xcoms=dict(XCOMS)
    )
    result = listener.handle(row, "failed")
    if AIRFLOW_3:
        assert result is None  # started in the background
        join_background_cleanups()
    else:  # Airflow 2: the calling process may exit as soon as the hook returns
        assert result is not None and result.ok, result
    assert stub.args[:5] == ["cleanup", "-n", "jobs", "--driver-pod", "spark-pi-ab12cd34-driver"]


def test_server_side_does_not_wait_for_the_binary(stub, settings_env):
    stub.behave(sleep=1.5)
    row = type("TaskInstance", (FakeTI,), {"__module__": "airflow.models.taskinstance"})(
        task=None, xcoms=dict(XCOMS)
    )
    row.operator = "SparkKubernetesOperator"
    start = time.monotonic()
    listener.handle(row, "failed")
    if AIRFLOW_3:
        assert time.monotonic() - start < 1
        join_background_cleanups()
    assert stub.called


def test_opt_out_by_task_param(stub, settings_env, spark_operator, caplog):
    caplog.set_level(logging.INFO, logger="sparkcm_airflow")
    ti = spark_ti(spark_operator, params={"sparkcm_hook_cleanup": False})
    assert listener.handle(ti, "succeeded") is None
    assert not stub.called
    assert "opted out" in caplog.text


def test_opt_out_by_dag_param_and_by_dag_tag(stub, settings_env, spark_operator):
    DAG = dag_class()

    with DAG("d1", schedule=None, params={"sparkcm_hook_cleanup": False}):
        op1 = spark_operator()
    with DAG("d2", schedule=None, tags=["sparkcm-hook:off"]):
        op2 = spark_operator()
    with DAG("d3", schedule=None, tags=["spark"], params={"sparkcm_hook_cleanup": True}):
        op3 = spark_operator()
    assert listener.handle(FakeTI(task=op1, xcoms=dict(XCOMS)), "succeeded") is None
    assert listener.handle(FakeTI(task=op2, xcoms=dict(XCOMS)), "succeeded") is None
    assert not stub.called
    assert listener.handle(FakeTI(task=op3, xcoms=dict(XCOMS)), "succeeded") is not None


def test_disabled_by_configuration(stub, settings_env, spark_operator):
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "False")
    assert listener.handle(spark_ti(spark_operator), "succeeded") is None
    assert not stub.called


def test_namespace_and_extra_args_from_configuration(stub, settings_env, spark_operator):
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__NAMESPACE", "fallback")
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__EXTRA_ARGS", "--kubeconfig /etc/k --no-event")
    # A kubeconfig of its own in extra_args is the worker-credentials mode (test_hook.py: refused otherwise).
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__USE_WORKER_CREDENTIALS", "True")
    ti = FakeTI(task=spark_operator(namespace="{{ params.ns }}"), xcoms={"pod_name": "p-driver"})
    listener.handle(ti, "succeeded")
    assert stub.args[:3] == ["cleanup", "-n", "fallback"]
    assert stub.args[-3:] == ["--kubeconfig", "/etc/k", "--no-event"]


def test_missing_binary_neither_raises_nor_fails_the_task(settings_env, spark_operator, tmp_path, caplog):
    get_listener_manager = task_listener_manager

    caplog.set_level(logging.WARNING, logger="sparkcm_airflow")
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", str(tmp_path / "not-installed"))
    get_listener_manager().hook.on_task_instance_success(
        **SESSION, previous_state="running", task_instance=spark_ti(spark_operator)
    )
    assert "not found" in caplog.text


def test_unreachable_cluster_neither_raises_nor_fails_the_task(stub, settings_env, spark_operator):
    stub.behave(exit=1, stderr="error: dial tcp 10.0.0.1:443: i/o timeout")
    result = listener.handle(spark_ti(spark_operator), "failed")
    assert result is not None and result.exit_code == 1


def test_hanging_binary_is_killed_at_the_configured_timeout(stub, settings_env, spark_operator):
    stub.behave(sleep=30)
    settings_env.setenv("AIRFLOW__SPARKCM_HOOK__TIMEOUT", "1")
    start = time.monotonic()
    result = listener.handle(spark_ti(spark_operator), "succeeded")
    assert time.monotonic() - start < 5
    assert result is not None and "timed out" in result.reason


def test_internal_errors_are_swallowed(stub, settings_env, spark_operator, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(listener, "find_target", boom)
    listener.on_task_instance_failed(previous_state=None, task_instance=spark_ti(spark_operator), error=None)
    listener.on_task_instance_success(previous_state=None, task_instance=object())
    assert not stub.called
