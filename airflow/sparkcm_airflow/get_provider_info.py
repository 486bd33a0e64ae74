"""Provider metadata, read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point.

The official ``apache-airflow-providers-*`` packages generate this function from a provider.yaml; here it
is written by hand, and the configuration options come from :data:`sparkcm_airflow.config.OPTIONS`, the
table :class:`sparkcm_airflow.config.Settings` takes its defaults from.

No connection type of its own: the cleanup runs with the cncf-kubernetes provider's ``kubernetes``
connection (the one the Spark task already uses), and registering that type a second time would make
ProvidersManager warn about a duplicate and keep only one of the two hooks for it.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """What ``airflow providers list`` / ``airflow config list`` show for this package."""
    from sparkcm_airflow import __version__
    from sparkcm_airflow.config import OPTIONS, SECTION

    options = {
        key: {
            "description": description,
            "version_added": "0.1.0",
            "type": kind,
            "example": None,
            "default": default,
        }
        for key, (kind, default, description) in OPTIONS.items()
    }
    return {
        "package-name": "sparkcm-airflow",
        "name": "sparkcm-hook",
        "description": "Deletes the ConfigMaps Spark-on-Kubernetes applications leave behind, from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "sparkcm-hook",
                "external-doc-url": "https://github.com/sparkcm-hook/sparkcm-hook",
                "tags": ["software"],
            }
        ],
        "operators": [
            {"integration-name": "sparkcm-hook", "python-modules": ["sparkcm_airflow.operators.cleanup"]},
        ],
        "hooks": [
            {"integration-name": "sparkcm-hook", "python-modules": ["sparkcm_airflow.hooks.sparkcm"]},
        ],
        "connection-types": [],
        "plugins": [{"name": "sparkcm_hook", "plugin-class": "sparkcm_airflow.plugin.SparkcmHookPlugin"}],
        "config": {
            SECTION: {
                "description": "How the sparkcm-hook listener, callbacks and operator run the cleanup.",
                "options": options,
            }
        },
    }
