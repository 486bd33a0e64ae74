"""Spark job with a sparkcm-hook cleanup teardown that runs the sparkcm-hook image in its own Pod.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).

Same pattern as ``sparkcm_teardown.py``, but SparkConfigMapCleanupOperator runs in Pod mode: it starts
the image (entrypoint ``/sparkcm-hook``) through the Spark task's ``kubernetes_conn_id``, in the job
namespace, as the ServiceAccount ``sparkcm-hook`` that the Helm chart in deploy/helm/sparkcm-hook
creates with the Role it needs (get and list pods and sparkapplications.sparkoperator.k8s.io; get, list
and delete configmaps). The chart's ServiceAccount does not automount its token; the operator asks for
it on the Pod, since in-cluster configuration needs it. The cleanup Pod is deleted when it finishes;
its exit code fails the cleanup task with its meaning when the cleanup did not succeed.
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
SPARKCM_HOOK_IMAGE = "sparkcm-hook:0.2.0"

with DAG(
    dag_id="sparkcm_pod_teardown",
    description="SparkApplication, then the sparkcm-hook image as its teardown Pod",
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

    cleanup = SparkConfigMapCleanupOperator(
        task_id="cleanup_configmaps",
        spark_task_id=SPARK_TASK,
        mode="pod",
        image=SPARKCM_HOOK_IMAGE,
        service_account_name="sparkcm-hook",
    )

    # See sparkcm_teardown.py: the Spark task is the setup, and the cleanup must run even when it failed.
    cleanup.as_teardown(setups=spark)
    cleanup.trigger_rule = TriggerRule.ALL_DONE
