"""A plain Spark job with no cleanup task: the sparkcm-hook listener plugin cleans up after it.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).

Nothing in this DAG mentions sparkcm-hook. With the ``sparkcm-airflow`` package installed in the
Airflow environment (its ``airflow.plugins`` entry point registers the listener) and the
``sparkcm-hook`` binary on the workers, every SparkKubernetesOperator task instance that finishes,
succeeded or failed, is followed by ``sparkcm-hook cleanup`` for its application.

To opt a task out, give it ``params={"sparkcm_hook_cleanup": False}``; to opt a whole DAG out, tag it
``sparkcm-hook:off``. Settings live in the ``[sparkcm_hook]`` section of airflow.cfg (or
``AIRFLOW__SPARKCM_HOOK__*`` variables): enabled, binary, namespace, extra_args, timeout, operators.
"""

from __future__ import annotations

import pendulum
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

try:  # Airflow 3: DAG authoring lives in the task SDK
    from airflow.sdk import DAG, Param
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.param import Param

with DAG(
    dag_id="sparkcm_listener_only",
    description="SparkApplication only; the sparkcm-hook listener plugin cleans up",
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
    tags=["spark"],
) as dag:
    SparkKubernetesOperator(
        task_id="spark_pi",
        namespace="{{ params.namespace }}",
        application_file="spark-application.yaml",
        kubernetes_conn_id="kubernetes_default",
    )
