"""Spark job whose on_failure_callback deletes the failed application's ConfigMaps.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).

Needs the ``sparkcm-airflow`` package (``pip install ./airflow`` from the sparkcm-hook repository)
and the ``sparkcm-hook`` binary on the worker. The callback finds the application from the task's XCom
``pod_name`` / ``pod_namespace``, or, when the driver never started, from the SparkApplication the
operator created; it runs ``sparkcm-hook cleanup`` with a time limit and never raises. Settings come
from the ``[sparkcm_hook]`` Airflow configuration section, or from make_cleanup_callback's arguments.

A successful run needs no callback: the operator deletes the SparkApplication
(``delete_on_termination=True``), and garbage collection takes the driver Pod and its ConfigMaps.
"""

from __future__ import annotations

import pendulum
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

from sparkcm_airflow.callback import make_cleanup_callback

try:  # Airflow 3: DAG authoring lives in the task SDK
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.param import Param

cleanup = make_cleanup_callback(timeout=120)

with DAG(
    dag_id="sparkcm_failure_callback",
    description="SparkApplication whose failure callback runs sparkcm-hook cleanup",
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
    SparkKubernetesOperator(
        task_id="spark_pi",
        namespace="{{ params.namespace }}",
        application_file="spark-application.yaml",
        kubernetes_conn_id="kubernetes_default",
        on_failure_callback=cleanup,
        on_retry_callback=cleanup,
    )
