"""``on_failure_callback`` helpers that delete the ConfigMaps a failed Spark task left behind.

Use the function itself, or a configured copy::

    from sparkcm_airflow.callback import cleanup_on_failure, make_cleanup_callback

    SparkKubernetesOperator(..., on_failure_callback=cleanup_on_failure)
    SparkKubernetesOperator(..., on_failure_callback=make_cleanup_callback(timeout=30))

The callback finds the application from the task's XCom ``pod_name`` / ``pod_namespace`` (or from the
operator object, see :mod:`sparkcm_airflow.identify`), runs ``sparkcm-hook cleanup`` with the
credentials of the Spark task's own ``kubernetes_conn_id`` and a hard time limit, and logs the outcome.
It never raises: a missing binary, an unreachable cluster, a refused RBAC rule or a timeout are
logged and the callback returns, so Airflow's callback machinery is never disturbed. Settings not
passed explicitly come from the ``[sparkcm_hook]`` configuration section (see
:mod:`sparkcm_airflow.config`); ``enabled`` there only governs the listener plugin, not this callback.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sparkcm_airflow.cleanup import CleanupResult
from sparkcm_airflow.config import Settings, load_settings
from sparkcm_airflow.hooks.sparkcm import connection_namespace, run_cleanup_with_connection, task_conn_id
from sparkcm_airflow.identify import find_target

log = logging.getLogger("sparkcm_airflow")

Callback = Callable[[Mapping[str, Any]], None]


def run_for_context(context: Mapping[str, Any], settings: Settings | None = None) -> CleanupResult | None:
    """Clean up after the task instance in an Airflow callback ``context``. Never raises.

    Returns the result, or ``None`` when the application could not be identified (nothing ran).
    """
    try:
        settings = settings or load_settings()
        ti = context.get("ti") or context.get("task_instance")
        if ti is None:
            log.warning("sparkcm-hook: callback context has no task instance; nothing to clean up")
            return None
        task = context.get("task") or getattr(ti, "task", None)
        # The Spark task's own connection: the cleanup must reach the cluster the job ran on.
        conn_id = task_conn_id(task) or settings.kubernetes_conn_id
        default_ns = settings.namespace
        if not settings.use_worker_credentials:
            default_ns = connection_namespace(conn_id) or default_ns
        target = find_target(ti, task, default_namespace=default_ns)
        if target is None:
            log.warning(
                "sparkcm-hook: cannot tell which Spark application task %s ran "
                "(no XCom pod_name and no SparkApplication created); nothing to clean up",
                getattr(ti, "task_id", "?"),
            )
            return None
        return run_cleanup_with_connection(target, settings, conn_id, log)
    except Exception as exc:  # the callback must never fail
        log.warning("sparkcm-hook: cleanup callback failed: %s", exc)
        return None


def cleanup_on_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` (also fine as ``on_retry_callback``) with settings from configuration."""
    run_for_context(context)


def make_cleanup_callback(  # noqa: PLR0913 - keyword-only settings, one per [sparkcm_hook] option
    *,
    binary: str | None = None,
    namespace: str | None = None,
    extra_args: str | Iterable[str] | None = None,
    timeout: float | None = None,
    dry_run: bool | None = None,
    use_worker_credentials: bool | None = None,
) -> Callback:
    """Return a callback like :func:`cleanup_on_failure` with some settings fixed.

    Args:
        binary: ``sparkcm-hook`` executable (name on ``PATH`` or path).
        namespace: namespace used when neither XCom nor the operator names one.
        extra_args: extra arguments, a list or a shell-quoted string (e.g. ``"--context prod"``).
        timeout: seconds after which the binary is killed.
        dry_run: only report what would be deleted.
        use_worker_credentials: let the binary find its own configuration instead of using the
            Spark task's Kubernetes connection (needed for ``--kubeconfig`` / ``--context`` in ``extra_args``).
    """
    fixed = {
        "binary": binary,
        "namespace": namespace,
        "extra_args": extra_args,
        "timeout": timeout,
        "dry_run": dry_run,
        "use_worker_credentials": use_worker_credentials,
    }

    def callback(context: Mapping[str, Any]) -> None:
        try:
            settings = load_settings().with_overrides(**fixed)
        except Exception as exc:
            log.warning("sparkcm-hook: bad cleanup callback settings: %s", exc)
            return
        run_for_context(context, settings)

    callback.__name__ = "sparkcm_hook_cleanup_callback"
    callback.__doc__ = cleanup_on_failure.__doc__
    return callback
