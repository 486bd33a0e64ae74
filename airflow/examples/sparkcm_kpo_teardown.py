"""Spark job with a sparkcm-hook cleanup teardown that runs the sparkcm-hook image in its own Pod.

Tested with apache-airflow 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).

Same pattern as ``sparkcm_teardown.py``, but the cleanup runs as a KubernetesPodOperator: the image's
entrypoint is ``/sparkcm-hook``, and in the cluster it uses the Pod's service account and namespace.
Give that service account (``sparkcm-hook`` below) a Role in the job namespace that may get and list
pods and sparkapplications.sparkoperator.k8s.io, and get, list and delete configmaps; the Helm chart
in deploy/helm/sparkcm-hook creates one. The cleanup Pod is deleted when it finishes.
"""

from __future__ import annotations

import pendulum
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from airflow.sdk import DAG, Param, TriggerRule

SPARK_TASK = "spark_pi"
SPARKCM_HOOK_IMAGE = "sparkcm-hook:0.2.0"

with DAG(
    dag_id="sparkcm_kpo_teardown",
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

    cleanup = KubernetesPodOperator(
        task_id="cleanup_configmaps",
        name="sparkcm-hook-cleanup",
        namespace=f"{{{{ ti.xcom_pull(task_ids='{SPARK_TASK}', key='pod_namespace') or params.namespace }}}}",
        image=SPARKCM_HOOK_IMAGE,
        # The image's entrypoint is /sparkcm-hook; these are its arguments. If the Spark task never
        # started a driver, pod_name is empty and sparkcm-hook exits 2 (invalid input, nothing done).
        arguments=[
            "cleanup",
            "--driver-pod",
            f"{{{{ ti.xcom_pull(task_ids='{SPARK_TASK}', key='pod_name') or '' }}}}",
        ],
        service_account_name="sparkcm-hook",
        on_finish_action="delete_pod",
        get_logs=True,
        kubernetes_conn_id="kubernetes_default",
    )

    # See sparkcm_teardown.py: the Spark task is the setup, and the cleanup must run even when it failed.
    cleanup.as_teardown(setups=spark)
    cleanup.trigger_rule = TriggerRule.ALL_DONE
