"""Spark job with a sparkcm-hook cleanup teardown task that runs the binary on the worker.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).

The cleanup task is a teardown of the Spark task: it runs after the Spark task whether that task
succeeded, failed or timed out. SparkConfigMapCleanupOperator reads the driver Pod the Spark task
recorded in XCom (``pod_name``, ``pod_namespace``) and runs ``sparkcm-hook cleanup --driver-pod``, which
works even after the Pod and the SparkApplication are gone, with the credentials of the Spark task's
own ``kubernetes_conn_id``: the cleanup reaches the cluster the job ran on, never the worker's default.

A failed cleanup fails the cleanup task with sparkcm-hook's exit code and its meaning: maps left
behind are never silent. The DAG run's state still follows the Spark task (see the comment below).

Needs the ``sparkcm-airflow`` provider and the ``sparkcm-hook`` binary on the worker (``[sparkcm_hook]
binary``); the connection's identity may get and list pods and sparkapplications and get, list and
delete configmaps in the job namespace.
"""

from __future__ import annotations

import pendulum
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

from sparkcm_airflow.operators.cleanup import SparkConfigMapCleanupOperator

try:  # Airflow 3: DAG authoring lives in the task SDK
    from airflow.sdk import DAG, Param, TriggerRule
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.param import Param
    from airflow.utils.trigger_rule import TriggerRule

SPARK_TASK = "spark_pi"

with DAG(
    dag_id="sparkcm_teardown",
    description="SparkApplication, then sparkcm-hook cleanup as its teardown",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    # A namespace is a DNS label, never empty: sparkcm-hook refuses an empty -n rather than fall
    # back to another namespace, and so does this DAG when it is triggered.
    params={
        "namespace": Param(
            "spark-jobs", type="string", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63,
            description="namespace of the Spark job",
        )
    },
    tags=["spark", "sparkcm-hook"],
) as dag:
    spark = SparkKubernetesOperator(
        task_id=SPARK_TASK,
        namespace="{{ params.namespace }}",
        application_file="spark-application.yaml",
        kubernetes_conn_id="kubernetes_default",
    )

    cleanup = SparkConfigMapCleanupOperator(task_id="cleanup_configmaps", spark_task_id=SPARK_TASK)

    # as_teardown(setups=...) makes the Spark task a setup of the cleanup and gives the cleanup the
    # trigger rule all_done_setup_success, which skips a teardown whose setups all failed. The Spark
    # task *is* the setup here, and a failed Spark task is when cleanup matters most, so the rule is
    # widened to all_done after as_teardown (which would otherwise overwrite it).
    # on_failure_fail_dagrun stays off: with it Airflow would judge the run by the cleanup instead of
    # the Spark task, and a failed Spark job whose maps were cleaned would end in a successful run.
    cleanup.as_teardown(setups=spark)
    cleanup.trigger_rule = TriggerRule.ALL_DONE
