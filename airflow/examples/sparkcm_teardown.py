"""Spark job with a sparkcm-hook cleanup teardown task (BashOperator running the binary).

Tested with apache-airflow 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).

The cleanup task is a teardown of the Spark task: it runs after the Spark task whether that task
succeeded, failed or timed out, and its own failure does not fail the DAG run. It identifies the
application by the driver Pod the Spark task recorded in XCom (``pod_name``, ``pod_namespace``);
``sparkcm-hook cleanup --driver-pod`` works even after the Pod and the SparkApplication are gone.

Needs on the worker: the ``sparkcm-hook`` binary on PATH, and Kubernetes credentials for it (in
cluster: the worker's service account; else ``SPARKCM_KUBECONFIG`` / ``KUBECONFIG``) that may get and
list pods and sparkapplications and get, list and delete configmaps in the job namespace.
"""

from __future__ import annotations

import pendulum
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param, TriggerRule

SPARK_TASK = "spark_pi"

# The XCom values reach the script as environment variables, never pasted into the shell text.
CLEANUP_SCRIPT = """
set -eu
if [ -z "$DRIVER_POD" ]; then
  echo "the Spark task recorded no driver pod (it never started one): nothing to clean up"
  exit 0
fi
if [ -z "$DRIVER_NAMESPACE" ]; then
  echo "no namespace for driver pod $DRIVER_POD (neither XCom pod_namespace nor params.namespace)" >&2
  exit 1
fi
exec sparkcm-hook cleanup --namespace "$DRIVER_NAMESPACE" --driver-pod "$DRIVER_POD"
"""

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

    cleanup = BashOperator(
        task_id="cleanup_configmaps",
        bash_command=CLEANUP_SCRIPT,
        env={
            "DRIVER_POD": f"{{{{ ti.xcom_pull(task_ids='{SPARK_TASK}', key='pod_name') or '' }}}}",
            "DRIVER_NAMESPACE": (
                f"{{{{ ti.xcom_pull(task_ids='{SPARK_TASK}', key='pod_namespace') or params.namespace }}}}"
            ),
        },
        append_env=True,  # keep PATH, KUBECONFIG, SPARKCM_* of the worker
    )

    # as_teardown(setups=...) makes the Spark task a setup of the cleanup and gives the cleanup the
    # trigger rule all_done_setup_success, which skips a teardown whose setups all failed. The Spark
    # task *is* the setup here, and a failed Spark task is when cleanup matters most, so the rule is
    # widened to all_done after as_teardown (which would otherwise overwrite it).
    cleanup.as_teardown(setups=spark)
    cleanup.trigger_rule = TriggerRule.ALL_DONE
