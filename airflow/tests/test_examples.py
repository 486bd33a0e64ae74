"""The example DAGs load in real Airflow, cleanly, and have the structure they promise."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES_DIR

TESTED_WITH = "Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0"
DAG_FILES = sorted(EXAMPLES_DIR.glob("*.py"))
TEARDOWN_DAGS = ["sparkcm_teardown", "sparkcm_pod_teardown"]
ALL_DAGS = [*TEARDOWN_DAGS, "sparkcm_failure_callback", "sparkcm_listener_only"]


def _dagbag_class():
    try:  # Airflow 3
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 2
        from airflow.models.dagbag import DagBag
    return DagBag


@pytest.fixture(scope="module")
def dagbag_and_warnings():
    DagBag = _dagbag_class()

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
        "sparkcm_pod_teardown.py",
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
    # Airflow 2's DagBag has no per-DAG configuration warnings to record.
    assert getattr(dagbag, "dag_warnings", set()) == set()


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
    # Off: with it Airflow would judge the run by the cleanup instead of the Spark task.
    assert not cleanup.on_failure_fail_dagrun


@pytest.mark.parametrize(("dag_id", "mode"), [("sparkcm_teardown", "binary"), ("sparkcm_pod_teardown", "pod")])
def test_teardown_dags_use_the_cleanup_operator_for_the_spark_task(dagbag, dag_id, mode):
    from sparkcm_airflow.operators.cleanup import SparkConfigMapCleanupOperator

    cleanup = dagbag.get_dag(dag_id).get_task("cleanup_configmaps")
    assert isinstance(cleanup, SparkConfigMapCleanupOperator)
    assert cleanup.spark_task_id == "spark_pi"
    assert cleanup.mode == mode
    assert cleanup.fail_on_error
    # The Spark task's own connection, not one of the cleanup's.
    assert cleanup.kubernetes_conn_id is None


@pytest.mark.parametrize("dag_id", ALL_DAGS)
def test_the_namespace_param_refuses_an_empty_or_invalid_namespace(dagbag, dag_id):
    """An empty namespace never reaches sparkcm-hook, which would refuse it (exit 2) anyway."""
    try:  # Airflow 3
        from airflow.sdk.exceptions import ParamValidationError
    except ImportError:  # Airflow 2
        from airflow.exceptions import ParamValidationError

    param = dagbag.get_dag(dag_id).params.get_param("namespace")
    assert param.resolve("jobs") == "jobs"
    for bad in ("", " ", "Not_A_Namespace"):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


def test_pod_dag_runs_the_image_under_the_charts_service_account(dagbag):
    cleanup = dagbag.get_dag("sparkcm_pod_teardown").get_task("cleanup_configmaps")
    assert cleanup.image.startswith("sparkcm-hook:")
    assert cleanup.service_account_name == "sparkcm-hook"


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
