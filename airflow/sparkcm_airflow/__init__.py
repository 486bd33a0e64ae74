"""Delete the ConfigMaps Spark-on-Kubernetes applications leave behind, from Airflow.

An Airflow provider (entry point ``apache_airflow_provider``, see :mod:`sparkcm_airflow.get_provider_info`):

- :mod:`sparkcm_airflow.operators.cleanup`: ``SparkConfigMapCleanupOperator``, the teardown users drop in.
- :mod:`sparkcm_airflow.hooks.sparkcm`: ``SparkcmHook``, the binary run with a Kubernetes connection.
- :mod:`sparkcm_airflow.callback`: ``on_failure_callback`` helpers.
- :mod:`sparkcm_airflow.listener` / :mod:`sparkcm_airflow.plugin`: zero-change listener plugin.
- :mod:`sparkcm_airflow.cleanup`: runs the ``sparkcm-hook`` binary with a hard time limit.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from sparkcm_airflow.cleanup import CleanupResult, CleanupTarget, run_cleanup
from sparkcm_airflow.config import Settings, load_settings

__all__ = ["CleanupResult", "CleanupTarget", "Settings", "load_settings", "run_cleanup"]
__version__ = "0.2.0"
