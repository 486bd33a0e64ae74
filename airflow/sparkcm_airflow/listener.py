"""Airflow listener: clean up after every SparkKubernetesOperator task instance that finishes.

Registered by :class:`sparkcm_airflow.plugin.SparkcmHookPlugin` (entry point ``airflow.plugins``), so
installing the package is the whole setup. Hooks (Airflow 3 listener spec,
``airflow/sdk/_shared/listeners/spec/taskinstance.py``):

- ``on_task_instance_success(previous_state, task_instance)``
- ``on_task_instance_failed(previous_state, task_instance, error)``: also called for a try that will
  be retried, and by the scheduler when a worker died without reporting (then ``task_instance`` is a
  database row and only its XCom identifies the application).

In the task process (the normal case) the cleanup runs synchronously, after the task's own callbacks,
and is killed after ``[sparkcm_hook] timeout`` seconds; it never changes the task's state. In an
Airflow 3 server process (scheduler, API server) it runs on a daemon thread so that the server is not
held up; on Airflow 2 it always runs before the hook returns (see :func:`_may_run_in_background`).
It uses the Spark task's own ``kubernetes_conn_id`` (see :mod:`sparkcm_airflow.hooks.sparkcm`).

Airflow 2.10+ and 3 call these hooks with the same names; Airflow 2 also passes ``session``, which
pluggy leaves out for an implementation that does not name it.

Opt out per task with ``params={"sparkcm_hook_cleanup": False}`` or per DAG with the tag
``sparkcm-hook:off``; turn it off everywhere with ``[sparkcm_hook] enabled = False``.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sparkcm_airflow.cleanup import CleanupResult
from sparkcm_airflow.config import load_settings
from sparkcm_airflow.hooks.sparkcm import connection_namespace, run_cleanup_with_connection, task_conn_id
from sparkcm_airflow.identify import find_target, is_spark_task, opt_out_reason

try:
    from airflow.listeners import hookimpl
except Exception:  # pragma: no cover - Airflow without core; the marker is plain pluggy
    from pluggy import HookimplMarker

    hookimpl = HookimplMarker("airflow")

log = logging.getLogger("sparkcm_airflow")


def _airflow_major() -> int:
    try:
        from airflow import __version__
    except Exception:
        return 0
    try:
        return int(__version__.split(".", 1)[0])
    except ValueError:
        return 0


def _may_run_in_background(task_instance: Any) -> bool:
    """True only where a background thread outlives the call: an Airflow 3 server process.

    Airflow 3 hands the task process a task-SDK RuntimeTaskInstance and a server process (scheduler,
    API server, both long-lived) a database row of ``airflow.models``; only the latter may use a thread.
    Airflow 2 hands every process an ``airflow.models`` TaskInstance, and both places that call the
    listener end soon after it returns: the task process leaves with ``os._exit`` (no thread survives
    that) and the DAG processor's child that handles a dead worker exits once its callbacks ran. There
    the cleanup runs before the hook returns, with its hard time limit, or it would be lost.
    """
    if _airflow_major() < 3:
        return False
    return type(task_instance).__module__.startswith("airflow.models")


def handle(task_instance: Any, outcome: str) -> CleanupResult | None:
    """Run the cleanup for one finished task instance if it is a Spark task. Never raises.

    Returns the result of the run, or ``None`` when nothing ran (not a Spark task, opted out,
    disabled, application unknown, or started in the background).
    """
    try:
        settings = load_settings()
        if not settings.enabled:
            return None
        if not is_spark_task(task_instance, settings.operators):
            return None
        task_id = getattr(task_instance, "task_id", "?")
        reason = opt_out_reason(task_instance)
        if reason:
            log.info("sparkcm-hook: no cleanup after %s: opted out (%s)", task_id, reason)
            return None
        task = getattr(task_instance, "task", None)
        # The Spark task's own connection: the cleanup must reach the cluster the job ran on.
        conn_id = task_conn_id(task) or settings.kubernetes_conn_id
        default_ns = settings.namespace
        if not settings.use_worker_credentials:
            default_ns = connection_namespace(conn_id) or default_ns
        target = find_target(task_instance, default_namespace=default_ns)
        if target is None:
            log.warning(
                "sparkcm-hook: task %s %s but its Spark application is unknown "
                "(no XCom pod_name, no SparkApplication created); nothing to clean up",
                task_id,
                outcome,
            )
            return None
        if _may_run_in_background(task_instance):
            threading.Thread(
                target=run_cleanup_with_connection,
                args=(target, settings, conn_id, log),
                name="sparkcm-hook-cleanup",
                daemon=True,
            ).start()
            return None
        return run_cleanup_with_connection(target, settings, conn_id, log)
    except Exception as exc:  # a listener must never disturb the task
        log.warning("sparkcm-hook: listener error, no cleanup: %s", exc)
        return None


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    """Clean up after a Spark task that succeeded."""
    handle(task_instance, "succeeded")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    """Clean up after a Spark task that failed (or will be retried)."""
    handle(task_instance, "failed")
