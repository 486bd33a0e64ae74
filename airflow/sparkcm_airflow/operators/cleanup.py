"""``SparkConfigMapCleanupOperator``: delete the ConfigMaps one Spark task's application left behind.

Drop it after a SparkKubernetesOperator (or any KubernetesPodOperator-based Spark task) and make it that
task's teardown::

    spark = SparkKubernetesOperator(task_id="spark_pi", ...)
    cleanup = SparkConfigMapCleanupOperator(task_id="cleanup_configmaps", spark_task_id="spark_pi")
    cleanup.as_teardown(setups=spark)
    cleanup.trigger_rule = TriggerRule.ALL_DONE

It reads the driver Pod (``pod_name`` / ``pod_namespace``) the Spark task pushed to XCom and runs
``sparkcm-hook cleanup --driver-pod`` for it, either

- ``mode="binary"`` (default): the ``sparkcm-hook`` binary on the worker, with the credentials of the
  Spark task's own ``kubernetes_conn_id`` (see :mod:`sparkcm_airflow.hooks.sparkcm`), or
- ``mode="pod"``: the ``sparkcm-hook`` image in a Pod in the job namespace, started through that same
  connection, running as ``service_account_name`` with its token mounted (the Helm chart's
  ServiceAccount turns automounting off, and in-cluster configuration needs the token).

A cleanup that fails fails the task with the exit code and its meaning, or, with
``fail_on_error=False``, only logs a warning. The DAG run's state follows the Spark task, not this
teardown: ``on_failure_fail_dagrun=True`` would make Airflow judge the run by the teardown *instead of*
its setup, so a failed Spark job whose maps were cleaned would end in a successful run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sparkcm_airflow import __version__
from sparkcm_airflow.cleanup import CleanupResult, CleanupTarget, exit_meaning
from sparkcm_airflow.config import load_settings
from sparkcm_airflow.hooks.sparkcm import connection_namespace, run_cleanup_with_connection, task_conn_id

try:  # Airflow 3: operators are written against the task SDK
    from airflow.sdk import BaseOperator
    from airflow.sdk.exceptions import AirflowException, AirflowSkipException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowException, AirflowSkipException
    from airflow.models.baseoperator import BaseOperator

# The package's logger, as in the listener and callbacks: Airflow routes it into the task log on both
# lines, and run_cleanup needs a stdlib Logger (Airflow 3's self.log is a structlog one).
log = logging.getLogger("sparkcm_airflow")

MODES = ("binary", "pod")
#: The image users run in Pod mode unless they name another; its entrypoint is /sparkcm-hook. Its tag is
#: the package's own version: one release carries the binary, the image and this package.
DEFAULT_IMAGE = f"sparkcm-hook:{__version__}"
#: The ServiceAccount the Helm chart (deploy/helm/sparkcm-hook) creates in the job namespace.
DEFAULT_SERVICE_ACCOUNT = "sparkcm-hook"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
#: A SparkApplication named with its group, as ``sparkcm-hook cleanup --spark-app`` takes it (needed
#: where both operators' CRDs are installed and the name exists in both).
_QUALIFIED = re.compile(r"^sparkapplications\.(sparkoperator\.k8s\.io|spark\.apache\.org)/")


class CleanupFailed(AirflowException):
    """sparkcm-hook ran and did not succeed; ``exit_code`` is its exit code (``None``: it never got one)."""

    def __init__(self, message: str, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SparkConfigMapCleanupOperator(BaseOperator):
    """Delete the ConfigMaps left behind by the Spark application ``spark_task_id`` ran.

    Args:
        spark_task_id: the Spark task whose XCom ``pod_name`` / ``pod_namespace`` name the driver Pod;
            its ``kubernetes_conn_id`` and ``namespace`` are the defaults of the arguments below.
        driver_pod / spark_app / app_id: name the application directly instead (at most one; templated).
            ``spark_app`` may name the operator's group, ``sparkapplications.spark.apache.org/NAME``
            for an Apache Spark Kubernetes Operator application.
        namespace: namespace of the application (templated); default: XCom ``pod_namespace``, else the
            Spark task's rendered ``namespace``, else the connection's, else ``[sparkcm_hook] namespace``.
        kubernetes_conn_id: default: the Spark task's own, else ``[sparkcm_hook] kubernetes_conn_id``.
        mode: ``"binary"`` (run the binary on the worker) or ``"pod"`` (run the image in a Pod).
        fail_on_error: a failed cleanup fails the task (default); false: it only logs a warning.
        dry_run: report what would be deleted, delete nothing.
        timeout: binary mode: seconds after which the binary is killed (default ``[sparkcm_hook] timeout``).
        binary: binary mode: the executable (default ``[sparkcm_hook] binary``).
        image, service_account_name, image_pull_policy, get_logs, pod_kwargs: Pod mode: the image, the
            ServiceAccount it runs as, and anything else for the KubernetesPodOperator that starts it.
    """

    template_fields: Sequence[str] = ("namespace", "driver_pod", "spark_app", "app_id", "image")
    ui_color = "#e8f4fd"

    def __init__(  # noqa: PLR0913 - keyword-only, as Airflow operators take their arguments
        self,
        *,
        spark_task_id: str | None = None,
        driver_pod: str | None = None,
        spark_app: str | None = None,
        app_id: str | None = None,
        namespace: str | None = None,
        kubernetes_conn_id: str | None = None,
        mode: str = "binary",
        fail_on_error: bool = True,
        dry_run: bool = False,
        timeout: float | None = None,
        binary: str | None = None,
        image: str = DEFAULT_IMAGE,
        service_account_name: str = DEFAULT_SERVICE_ACCOUNT,
        image_pull_policy: str | None = None,
        get_logs: bool = True,
        pod_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Refused when the DAG is parsed, not when it runs: an argument that cannot work is a DAG bug.
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        named = [n for n, v in (("driver_pod", driver_pod), ("spark_app", spark_app), ("app_id", app_id)) if v]
        if len(named) > 1:
            raise ValueError(f"name the application once: {', '.join(named)} are all set")
        if not named and not spark_task_id:
            raise ValueError("spark_task_id (or one of driver_pod, spark_app, app_id) is required")
        if mode == "pod" and (timeout is not None or binary is not None):
            raise ValueError("timeout and binary apply to mode='binary' only; in a Pod the image is the binary")
        self.spark_task_id = spark_task_id
        self.driver_pod = driver_pod
        self.spark_app = spark_app
        self.app_id = app_id
        self.namespace = namespace
        self.kubernetes_conn_id = kubernetes_conn_id
        self.mode = mode
        self.fail_on_error = fail_on_error
        self.dry_run = dry_run
        self.timeout = timeout
        self.binary = binary
        self.image = image
        self.service_account_name = service_account_name
        self.image_pull_policy = image_pull_policy
        self.get_logs = get_logs
        self.pod_kwargs = dict(pod_kwargs or {})

    # -- which application, which cluster --------------------------------------------------------

    def _spark_task(self, context: Mapping[str, Any]) -> Any:
        if not self.spark_task_id:
            return None
        dag = context.get("dag") or getattr(self, "dag", None)
        try:
            return dag.get_task(self.spark_task_id) if dag is not None else None
        except Exception:
            return None

    def _xcom(self, context: Mapping[str, Any], key: str) -> Any:
        ti = context["ti"]
        kwargs: dict[str, Any] = {"task_ids": self.spark_task_id, "key": key}
        map_index = getattr(ti, "map_index", -1)
        if isinstance(map_index, int) and map_index >= 0:
            kwargs["map_indexes"] = map_index
        value = ti.xcom_pull(**kwargs)
        if isinstance(value, (list, tuple)):  # a pull over several map indexes
            value = next((v for v in value if v), None)
        return value

    def _conn_id(self, spark_task: Any) -> str:
        return self.kubernetes_conn_id or task_conn_id(spark_task) or load_settings().kubernetes_conn_id

    def _namespace(self, context: Mapping[str, Any], spark_task: Any, conn_id: str) -> str:
        candidates: list[tuple[str, Any]] = [("namespace argument", self.namespace)]
        if self.spark_task_id:
            candidates.append((f"XCom pod_namespace of {self.spark_task_id}", self._xcom(context, "pod_namespace")))
        if spark_task is not None and getattr(spark_task, "namespace", None):
            try:
                rendered = self.render_template(spark_task.namespace, context)
            except Exception:
                rendered = None
            candidates.append((f"namespace of {self.spark_task_id}", rendered))
        for _, value in candidates:
            if isinstance(value, str) and value.strip():
                ns = value.strip()
                if not _DNS_LABEL.match(ns):
                    raise CleanupFailed(f"namespace {ns!r} is not a DNS label: nothing was run", 2)
                return ns
        ns = connection_namespace(conn_id) or load_settings().namespace
        if ns and _DNS_LABEL.match(ns):
            return ns
        raise CleanupFailed(
            "no namespace: set namespace=, or let the Spark task push pod_namespace; nothing was run", 2
        )

    def target(self, context: Mapping[str, Any]) -> tuple[CleanupTarget, str]:
        """The application to clean up and the connection to use.

        Raises:
            AirflowSkipException: the Spark task recorded no driver Pod (it never started one), so
                there is no application to name; guessing one could delete another's maps.
            CleanupFailed: a name or namespace that sparkcm-hook would refuse (exit 2).
        """
        spark_task = self._spark_task(context)
        conn_id = self._conn_id(spark_task)
        driver_pod, source = self.driver_pod, "driver_pod argument"
        if not (driver_pod or self.spark_app or self.app_id):
            driver_pod, source = self._xcom(context, "pod_name"), f"XCom pod_name of {self.spark_task_id}"
            if not isinstance(driver_pod, str) or not driver_pod.strip():
                raise AirflowSkipException(
                    f"{self.spark_task_id} recorded no driver pod (XCom pod_name is empty: it never started "
                    "one), so its application is unknown; nothing to clean up"
                )
        for value in (driver_pod, _QUALIFIED.sub("", str(self.spark_app or "")), self.app_id):
            if value and not _DNS_NAME.match(str(value).strip()):
                raise CleanupFailed(f"{value!r} is not a Kubernetes object name: nothing was run", 2)
        ns = self._namespace(context, spark_task, conn_id)
        target = CleanupTarget(
            namespace=ns,
            driver_pod=driver_pod.strip() if driver_pod else None,
            spark_app=self.spark_app,
            app_id=self.app_id,
            source=source if driver_pod else "argument",
        )
        return target, conn_id

    # -- running it -----------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        target, conn_id = self.target(context)
        log.info("sparkcm-hook: cleaning up %s with connection %s (%s mode)", target.describe(), conn_id, self.mode)
        try:
            if self.mode == "pod":
                result = self._run_pod(context, target, conn_id)
            else:
                result = self._run_binary(target, conn_id)
        except CleanupFailed as exc:
            if self.fail_on_error:
                raise
            log.warning("sparkcm-hook: cleanup failed (fail_on_error=False, the task succeeds): %s", exc)
            return {"ok": False, "exit_code": exc.exit_code, "reason": str(exc)}
        return result

    def _run_binary(self, target: CleanupTarget, conn_id: str) -> dict[str, Any]:
        settings = load_settings().with_overrides(timeout=self.timeout, binary=self.binary)
        if self.dry_run:
            settings = settings.with_overrides(dry_run=True)
        result: CleanupResult = run_cleanup_with_connection(target, settings, conn_id, log)
        if not result.ok:
            code = "none" if result.exit_code is None else str(result.exit_code)
            raise CleanupFailed(
                f"sparkcm-hook cleanup of {target.describe()} failed: exit {code} ({result.reason})", result.exit_code
            )
        return {
            "ok": True,
            "exit_code": 0,
            "deleted": result.deleted,
            "skipped": result.skipped,
            "failed": result.failed,
        }

    def pod_arguments(self, target: CleanupTarget) -> list[str]:
        """The container's arguments (the image's entrypoint is the binary)."""
        args = ["cleanup", *target.args()]
        if self.dry_run:
            args.append("--dry-run")
        return args

    def _run_pod(self, context: Any, target: CleanupTarget, conn_id: str) -> dict[str, Any]:
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        kwargs: dict[str, Any] = {
            "task_id": f"{self.task_id}-pod",
            "name": "sparkcm-hook-cleanup",
            "namespace": target.namespace,
            "image": self.image,
            "arguments": self.pod_arguments(target),
            "service_account_name": self.service_account_name,
            # The chart's ServiceAccount sets automountServiceAccountToken: false; without the token
            # the binary's in-cluster configuration cannot authenticate.
            "automount_service_account_token": True,
            "kubernetes_conn_id": conn_id,
            "on_finish_action": "delete_pod",
            "get_logs": self.get_logs,
            "labels": {"app.kubernetes.io/name": "sparkcm-hook", "app.kubernetes.io/component": "cleanup"},
        }
        if self.image_pull_policy:
            kwargs["image_pull_policy"] = self.image_pull_policy
        kwargs.update(self.pod_kwargs)
        pod_op = KubernetesPodOperator(**kwargs)
        try:
            pod_op.execute(context)
        except Exception as exc:
            code = _exit_code(getattr(pod_op, "remote_pod", None))
            shown = "none" if code is None else str(code)
            raise CleanupFailed(
                f"sparkcm-hook cleanup Pod for {target.describe()} failed: exit {shown} ({exit_meaning(code)}): {exc}",
                code,
            ) from exc
        return {"ok": True, "exit_code": 0}


def _exit_code(pod: Any) -> int | None:
    """The base container's exit code in a finished Pod, if it has one."""
    statuses: Iterable[Any] = getattr(getattr(pod, "status", None), "container_statuses", None) or []
    for status in statuses:
        if getattr(status, "name", None) != "base":
            continue
        terminated = getattr(getattr(status, "state", None), "terminated", None)
        if terminated is not None and terminated.exit_code is not None:
            return int(terminated.exit_code)
    return None
