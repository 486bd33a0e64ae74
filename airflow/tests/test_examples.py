"""The example DAGs load in real Airflow, cleanly, and have the structure they promise."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES_DIR

TESTED_WITH = "Tested with apache-airflow 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0"
DAG_FILES = sorted(EXAMPLES_DIR.glob("*.py"))
TEARDOWN_DAGS = ["sparkcm_teardown", "sparkcm_kpo_teardown"]
ALL_DAGS = [*TEARDOWN_DAGS, "sparkcm_failure_callback", "sparkcm_listener_only"]


@pytest.fixture(scope="module")
def dagbag_and_warnings():
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(EXAMPLES_DIR))
    return bag, caught


@pytest.fixture(scope="module")
def dagbag(dagbag_and_warnings):
    return dagbag_and_warnings[0]


def test_examples_exist():
    names = {p.name for p in DAG_FILES}
    assert {
        "sparkcm_teardown.py",
        "sparkcm_kpo_teardown.py",
        "sparkcm_failure_callback.py",
        "sparkcm_listener_only.py",
    } <= names


def test_every_example_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    loaded = {Path(dag.fileloc).name for dag in dagbag.dags.values()}
    assert loaded == {p.name for p in DAG_FILES}


def test_loading_examples_raises_no_warning_about_them(dagbag_and_warnings):
    _, caught = dagbag_and_warnings
    ours = [w for w in caught if str(EXAMPLES_DIR) in str(w.filename) or "sparkcm" in str(w.message)]
    assert ours == [], [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in ours]


def test_dagbag_captured_no_warnings_and_no_dag_warnings(dagbag):
    # DagBag records the warnings each file raised while parsing, and configuration warnings per DAG.
    assert dagbag.captured_warnings == {}
    assert dagbag.dag_warnings == set()


@pytest.mark.parametrize("path", [*DAG_FILES, EXAMPLES_DIR / "spark-application.yaml"], ids=lambda p: p.name)
def test_every_example_states_the_versions_it_was_tested_with(path):
    text = " ".join(path.read_text().split())
    assert TESTED_WITH.replace(" and ", ", ") in text.replace(" and ", ", ")


@pytest.mark.parametrize("dag_id", TEARDOWN_DAGS)
def test_cleanup_is_a_teardown_of_the_spark_task_that_runs_even_when_it_failed(dagbag, dag_id):
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

    dag = dagbag.get_dag(dag_id)
    spark = dag.get_task("spark_pi")
    cleanup = dag.get_task("cleanup_configmaps")
    assert isinstance(spark, SparkKubernetesOperator)
    assert spark.is_setup and not spark.is_teardown
    assert cleanup.is_teardown and not cleanup.is_setup
    assert cleanup.upstream_task_ids == {"spark_pi"}
    # all_done: the default teardown rule (all_done_setup_success) would skip it after a failed Spark task.
    assert cleanup.trigger_rule == "all_done"
    assert not cleanup.on_failure_fail_dagrun


def test_teardown_dag_passes_the_driver_pod_from_xcom_to_the_binary(dagbag):
    from airflow.providers.standard.operators.bash import BashOperator

    cleanup = dagbag.get_dag("sparkcm_teardown").get_task("cleanup_configmaps")
    assert isinstance(cleanup, BashOperator)
    assert "sparkcm-hook cleanup" in cleanup.bash_command
    assert '--driver-pod "$DRIVER_POD"' in cleanup.bash_command
    assert '--namespace "$DRIVER_NAMESPACE"' in cleanup.bash_command
    assert "ti.xcom_pull(task_ids='spark_pi', key='pod_name')" in cleanup.env["DRIVER_POD"]
    assert "ti.xcom_pull(task_ids='spark_pi', key='pod_namespace')" in cleanup.env["DRIVER_NAMESPACE"]
    assert cleanup.append_env


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_the_namespace_param_refuses_an_empty_or_invalid_namespace(dagbag, dag_id):
    """An empty namespace never reaches sparkcm-hook, which would refuse it (exit 2) anyway."""
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.get_dag(dag_id).params.get_param("namespace")
    assert param.resolve("jobs") == "jobs"
    for bad in ("", " ", "Not_A_Namespace"):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_teardown_script_never_passes_an_empty_namespace(dagbag, stub, tmp_path):
    """The teardown's shell script, run as BashOperator runs it, with the stub as sparkcm-hook."""
    script = dagbag.get_dag("sparkcm_teardown").get_task("cleanup_configmaps").bash_command
    env = {**os.environ, "PATH": f"{stub.path.parent}{os.pathsep}{os.environ['PATH']}"}

    def run(namespace: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", script],
            env={**env, "DRIVER_POD": "spark-pi-x-driver", "DRIVER_NAMESPACE": namespace},
            capture_output=True,
            text=True,
            check=False,
        )

    empty = run("")
    assert empty.returncode != 0
    assert "no namespace" in empty.stderr
    assert not stub.called
    given = run("jobs")
    assert given.returncode == 0, given.stderr
    assert stub.args == ["cleanup", "--namespace", "jobs", "--driver-pod", "spark-pi-x-driver"]


def test_kpo_dag_runs_the_image_under_its_own_service_account(dagbag):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    cleanup = dagbag.get_dag("sparkcm_kpo_teardown").get_task("cleanup_configmaps")
    assert isinstance(cleanup, KubernetesPodOperator)
    assert cleanup.image.startswith("sparkcm-hook:")
    assert cleanup.service_account_name == "sparkcm-hook"
    on_finish = cleanup.on_finish_action
    assert str(on_finish.value if hasattr(on_finish, "value") else on_finish) == "delete_pod"
    assert cleanup.arguments[:2] == ["cleanup", "--driver-pod"]
    assert "ti.xcom_pull(task_ids='spark_pi', key='pod_name')" in cleanup.arguments[2]
    assert "key='pod_namespace'" in cleanup.namespace
    assert not cleanup.cmds  # the image's entrypoint (/sparkcm-hook) is kept


def test_callback_dag_uses_the_helper_for_failures_and_retries(dagbag):
    spark = dagbag.get_dag("sparkcm_failure_callback").get_task("spark_pi")
    for given in (spark.on_failure_callback, spark.on_retry_callback):
        callbacks = given if isinstance(given, list) else [given]
        assert [c.__module__ for c in callbacks] == ["sparkcm_airflow.callback"]


def test_listener_only_dag_has_nothing_but_the_spark_task(dagbag):
    dag = dagbag.get_dag("sparkcm_listener_only")
    assert list(dag.task_dict) == ["spark_pi"]
    spark = dag.get_task("spark_pi")
    assert spark.on_failure_callback in (None, [])
    assert "sparkcm_hook_cleanup" not in spark.params


def test_template_has_ttl_and_watch_sidecar():
    body = yaml.safe_load((EXAMPLES_DIR / "spark-application.yaml").read_text())
    assert body["apiVersion"] == "sparkoperator.k8s.io/v1beta2" and body["kind"] == "SparkApplication"
    spec = body["spec"]
    assert spec["timeToLiveSeconds"] > 0
    (sidecar,) = [s for s in spec["driver"]["sidecars"] if s["name"] == "sparkcm-hook"]
    assert sidecar["image"].startswith("sparkcm-hook:")
    assert sidecar["args"] == ["watch"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in sidecar["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    # Airflow's launcher requires both sections.
    assert "executor" in spec


def test_template_is_accepted_by_the_operators_launcher():
    """Airflow turns the template into the SparkApplication it submits (no cluster needed)."""
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import CustomObjectLauncher

    body = yaml.safe_load((EXAMPLES_DIR / "spark-application.yaml").read_text())
    launcher = CustomObjectLauncher(
        name="spark-pi-abcd1234", namespace="jobs", kube_client=None, custom_obj_api=None, template_body={"spark": body}
    )
    assert launcher.body["metadata"] == {"name": "spark-pi-abcd1234", "namespace": "jobs"}
    assert launcher.body["spec"]["timeToLiveSeconds"] == 3600
    assert launcher.plural == "sparkapplications"
