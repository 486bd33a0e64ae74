# A DAG file: check reads only the manifests next to it.
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
