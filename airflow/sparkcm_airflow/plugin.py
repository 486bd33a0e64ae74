"""The Airflow plugin that registers the cleanup listener (entry point ``airflow.plugins``).

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from __future__ import annotations

from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin

from sparkcm_airflow import listener


class SparkcmHookPlugin(AirflowPlugin):
    """Runs ``sparkcm-hook cleanup`` after every SparkKubernetesOperator task instance finishes."""

    name = "sparkcm_hook"
    listeners: ClassVar[list] = [listener]
