"""Decide which Spark application a finished Airflow task instance ran.

The order, most reliable first:

1. XCom ``pod_name`` / ``pod_namespace`` of the task instance itself: SparkKubernetesOperator (a
   KubernetesPodOperator underneath) pushes them as soon as the driver Pod exists, before it waits
   for the application; ``sparkcm-hook cleanup --driver-pod`` works even after the Pod is deleted.
2. The operator object, when it ran in this process: ``task.pod`` (the driver Pod it attached to)
   or, when the application was created but never started (startup timeout, submission failure:
   no XCom yet), the SparkApplication the operator created (``task.launcher.spark_obj_spec``), used
   with ``--spark-app``; an Apache Spark Kubernetes Operator application (``apiVersion:
   spark.apache.org/...``) is named with its group, ``sparkapplications.spark.apache.org/NAME``, so
   that the binary never mistakes it for a Kubeflow application of the same name.

Nothing else is guessed: a configured ``name`` alone is not enough, because with the default
``random_name_suffix=True`` the real name is only known once the operator ran, and an application
that merely has the same name is not ours.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from sparkcm_airflow.cleanup import CleanupTarget

log = logging.getLogger("sparkcm_airflow")

#: Task param that turns the cleanup off for one task (or, set on the DAG, for every task in it).
OPT_OUT_PARAM = "sparkcm_hook_cleanup"
#: DAG tag that turns the listener's cleanup off for every task of the DAG.
OPT_OUT_TAG = "sparkcm-hook:off"

_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

#: The Apache Spark Kubernetes Operator's API group; its applications are named with it.
APACHE_GROUP = "spark.apache.org"


def _usable(value: Any) -> str | None:
    """A Kubernetes name taken from Airflow, or ``None`` if it is empty or an unrendered template."""
    if isinstance(value, (list, tuple)):
        value = next((v for v in value if v), None)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or "{{" in value or "{%" in value or not _DNS_NAME.match(value):
        return None
    return value


def pull_xcom(task_instance: Any, key: str) -> Any:
    """Pull one XCom value pushed by ``task_instance`` itself; ``None`` on any error."""
    kwargs: dict[str, Any] = {"task_ids": task_instance.task_id, "key": key}
    map_index = getattr(task_instance, "map_index", -1)
    if isinstance(map_index, int) and map_index >= 0:
        kwargs["map_indexes"] = map_index
    try:
        return task_instance.xcom_pull(**kwargs)
    except Exception as exc:
        log.debug("sparkcm-hook: cannot read XCom %s of %s: %s", key, task_instance.task_id, exc)
        return None


def _meta(obj: Any) -> tuple[str | None, str | None]:
    """(name, namespace) of a V1Pod-like object or of a dict with ``metadata``."""
    if obj is None:
        return None, None
    if isinstance(obj, dict):
        meta = obj.get("metadata") or {}
        return _usable(meta.get("name")), _usable(meta.get("namespace"))
    meta = getattr(obj, "metadata", None)
    return _usable(getattr(meta, "name", None)), _usable(getattr(meta, "namespace", None))


def find_target(
    task_instance: Any,
    task: Any | None = None,
    default_namespace: str | None = None,
) -> CleanupTarget | None:
    """Return the application ``task_instance`` ran, or ``None`` when it cannot be known.

    Args:
        task_instance: a RuntimeTaskInstance (task process) or TaskInstance (scheduler, API server).
        task: the operator, if not ``task_instance.task``.
        default_namespace: used when neither XCom nor the operator names a namespace.
    """
    if task is None:
        task = getattr(task_instance, "task", None)
    task_ns = _usable(getattr(task, "namespace", None)) if task is not None else None

    pod_name = _usable(pull_xcom(task_instance, "pod_name"))
    if pod_name:
        ns = _usable(pull_xcom(task_instance, "pod_namespace")) or task_ns or default_namespace
        if ns:
            return CleanupTarget(namespace=ns, driver_pod=pod_name, source="xcom pod_name")

    if task is None:
        return None
    pod_name, pod_ns = _meta(getattr(task, "pod", None))
    if pod_name:
        ns = pod_ns or task_ns or default_namespace
        if ns:
            return CleanupTarget(namespace=ns, driver_pod=pod_name, source="operator pod")

    # Only set once the operator submitted the SparkApplication in this process.
    launcher = vars(task).get("launcher") if hasattr(task, "__dict__") else None
    spec = getattr(launcher, "spark_obj_spec", None) or None
    app_name, app_ns = _meta(spec)
    if app_name:
        ns = app_ns or task_ns or default_namespace
        if ns:
            api_version = spec.get("apiVersion") if isinstance(spec, dict) else getattr(spec, "api_version", None)
            if isinstance(api_version, str) and api_version.startswith(APACHE_GROUP + "/"):
                app_name = f"sparkapplications.{APACHE_GROUP}/{app_name}"
            return CleanupTarget(namespace=ns, spark_app=app_name, source="operator SparkApplication")
    return None


def is_spark_task(task_instance: Any, operators: Iterable[str]) -> bool:
    """True when the task's operator class (or a base class) is named in ``operators``.

    Works for the live operator (task process), a deserialized one (scheduler: ``task_type``) and
    a bare TaskInstance row (``operator``).
    """
    names = set(operators)
    task = getattr(task_instance, "task", None)
    if task is not None:
        if any(cls.__name__ in names for cls in type(task).__mro__):
            return True
        if getattr(task, "task_type", None) in names:
            return True
    return getattr(task_instance, "operator", None) in names


def opt_out_reason(task_instance: Any) -> str | None:
    """Why cleanup is turned off for this task instance, or ``None`` when it is not.

    A task opts out with ``params={"sparkcm_hook_cleanup": False}`` (on the task, or on the DAG for
    all its tasks); a whole DAG opts out with the tag ``sparkcm-hook:off``.
    """
    task = getattr(task_instance, "task", None)
    params = getattr(task, "params", None) if task is not None else None
    if params is not None:
        try:
            value = params.get(OPT_OUT_PARAM, True) if hasattr(params, "get") else True
        except Exception:
            value = True
        value = getattr(value, "value", value)  # an unresolved Param
        if value is False or (isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off")):
            return f"param {OPT_OUT_PARAM} is false"
    try:  # an operator outside a DAG raises on .dag
        dag = getattr(task, "dag", None) if task is not None else None
        tags = getattr(dag, "tags", None) if dag is not None else None
        if tags and OPT_OUT_TAG in {str(getattr(t, "name", t)) for t in tags}:
            return f"DAG tag {OPT_OUT_TAG}"
    except Exception:
        pass
    return None
