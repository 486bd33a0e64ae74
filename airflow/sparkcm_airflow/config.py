"""Settings shared by the callback helper and the listener plugin.

Every value comes from the ``[sparkcm_hook]`` section of the Airflow configuration, which Airflow also
fills from ``AIRFLOW__SPARKCM_HOOK__<KEY>`` environment variables. Outside Airflow (unit tests, plain
scripts) the same environment variables are read directly.

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

SECTION = "sparkcm_hook"

#: Default hard limit, in seconds, on one run of the binary (process start to exit).
DEFAULT_TIMEOUT = 60.0

#: Operator class names whose task instances the listener cleans up after.
DEFAULT_OPERATORS = ("SparkKubernetesOperator",)

#: Connection used when the Spark task names none (the cncf-kubernetes provider's own default).
DEFAULT_CONN_ID = "kubernetes_default"

#: Every option of the ``[sparkcm_hook]`` section: (type, default as Airflow's configuration holds it,
#: description). The provider metadata (:mod:`sparkcm_airflow.get_provider_info`) is built from this
#: table and :class:`Settings` takes its defaults from the same values, so the two cannot drift.
OPTIONS: dict[str, tuple[str, str, str]] = {
    "enabled": ("boolean", "True", "Run the cleanup listener after every Spark task instance that finishes."),
    "binary": ("string", "sparkcm-hook", "Name on PATH or path of the sparkcm-hook executable on the worker."),
    "namespace": (
        "string",
        "",
        "Namespace used when neither the task's XCom, the operator nor its Kubernetes connection names one.",
    ),
    "extra_args": ("string", "", "Arguments appended to every sparkcm-hook call, shell-quoted."),
    "timeout": ("float", str(DEFAULT_TIMEOUT), "Seconds after which one run of sparkcm-hook is killed."),
    "operators": (
        "string",
        ",".join(DEFAULT_OPERATORS),
        "Comma-separated operator class names (the class or a base class) the listener treats as Spark tasks.",
    ),
    "dry_run": ("boolean", "False", "Only report what would be deleted; delete nothing."),
    "kubernetes_conn_id": (
        "string",
        DEFAULT_CONN_ID,
        "Kubernetes connection used when the Spark task names none; "
        "by default the cleanup uses the Spark task's own kubernetes_conn_id.",
    ),
    "use_worker_credentials": (
        "boolean",
        "False",
        "Ignore Airflow connections and let sparkcm-hook find its own configuration "
        "(SPARKCM_KUBECONFIG, KUBECONFIG, ~/.kube/config, then in-cluster).",
    ),
}


@dataclass(frozen=True)
class Settings:
    """How to run ``sparkcm-hook cleanup``.

    Attributes:
        enabled: the listener does nothing when false (the callback helper ignores it).
        binary: name on ``PATH`` or path of the ``sparkcm-hook`` executable.
        namespace: namespace to use when neither XCom nor the operator names one.
        extra_args: arguments appended to every call, e.g. ``["--kubeconfig", "/etc/kube/config"]``.
        timeout: seconds after which the binary is killed; the binary itself is asked to give up
            a little earlier (``--timeout``), so a slow cluster yields a clean error, not a kill.
        operators: class names (the class or any base class) that mark a task as a Spark task.
        dry_run: pass ``--dry-run``: report what would be deleted, delete nothing.
        kubernetes_conn_id: connection used when the Spark task names none.
        use_worker_credentials: run the binary with whatever configuration it finds by itself instead
            of the credentials of the task's Kubernetes connection.
    """

    enabled: bool = True
    binary: str = "sparkcm-hook"
    namespace: str | None = None
    extra_args: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    operators: tuple[str, ...] = field(default=DEFAULT_OPERATORS)
    dry_run: bool = False
    kubernetes_conn_id: str = DEFAULT_CONN_ID
    use_worker_credentials: bool = False

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with every override that is not ``None`` applied."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "extra_args" in changes:
            changes["extra_args"] = _as_args(changes["extra_args"])
        if "operators" in changes:
            changes["operators"] = _as_names(changes["operators"])
        if "timeout" in changes:
            changes["timeout"] = float(changes["timeout"])
        return replace(self, **changes)


def _as_args(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(shlex.split(value))
    return tuple(str(v) for v in value)


def _as_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    return tuple(v.strip() for v in value if v and v.strip())


def _as_bool(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off", "")


def _raw(key: str) -> str | None:
    """One raw value: Airflow's configuration when it can be read, else the environment."""
    env = os.environ.get(f"AIRFLOW__{SECTION.upper()}__{key.upper()}")
    if env is not None:
        return env
    try:
        from airflow.configuration import conf
    except Exception:  # Airflow missing or its configuration broken: env only
        return None
    try:
        value = conf.get(SECTION, key, fallback=None)
    except Exception:
        return None
    return None if value is None else str(value)


def load_settings() -> Settings:
    """Read the settings now (never cached, so a changed environment is seen at once).

    An unreadable value is ignored and its default kept: configuration mistakes must not turn
    into task failures.
    """
    s = Settings()
    values: dict[str, Any] = {}
    raw = _raw("enabled")
    if raw is not None:
        values["enabled"] = _as_bool(raw)
    for key in ("binary", "namespace", "kubernetes_conn_id"):
        raw = _raw(key)
        if raw is not None and raw.strip():
            values[key] = raw.strip()
    raw = _raw("extra_args")
    if raw is not None:
        with contextlib.suppress(ValueError):  # unbalanced quotes: keep the default
            values["extra_args"] = _as_args(raw)
    raw = _raw("timeout")
    if raw is not None:
        try:
            timeout = float(raw)
        except ValueError:
            timeout = 0.0
        if timeout > 0:
            values["timeout"] = timeout
    raw = _raw("operators")
    if raw is not None and _as_names(raw):
        values["operators"] = _as_names(raw)
    for key in ("dry_run", "use_worker_credentials"):
        raw = _raw(key)
        if raw is not None:
            values[key] = _as_bool(raw)
    return replace(s, **values)
