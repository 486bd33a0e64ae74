"""Run ``sparkcm-hook cleanup`` for one Spark application, with a hard time limit, never raising.

This is the one place that starts the binary; the callback helper and the listener plugin only decide
*which* application to clean up (see :mod:`sparkcm_airflow.identify`).

Tested with apache-airflow 2.11.2 / 3.3.2 and apache-airflow-providers-cncf-kubernetes 10.25.0 (Python 3.11).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sparkcm_airflow.config import Settings

log = logging.getLogger("sparkcm_airflow")

#: Exit codes of ``sparkcm-hook`` (internal/exitcode/exitcode.go; tests/test_exit_codes.py checks this copy
#: against it, so the two cannot drift).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_FORBIDDEN = 3
EXIT_STILL_RUNNING = 4
#: Only ``rbac who-can``: the API server disagrees with the roles and bindings.
EXIT_DISAGREES = 5
#: Only ``check``: the manifests have findings (the same code: ran and found something to look at).
EXIT_FINDINGS = 5

EXIT_MEANING = {
    EXIT_OK: "done, also when there was nothing to delete",
    EXIT_FAILED: "failed after retries, or some ConfigMaps could not be deleted",
    EXIT_USAGE: "invalid usage or input (nothing was changed)",
    EXIT_FORBIDDEN: "refused: the API server refused a verb (RBAC) or the credentials",
    EXIT_STILL_RUNNING: "the application is still running (nothing was deleted)",
    EXIT_DISAGREES: "who-can: the API server disagrees with the roles and bindings; check: findings in the manifests",
}


def exit_meaning(code: int | None) -> str:
    """One line saying what ``sparkcm-hook``'s exit ``code`` means."""
    if code is None:
        return "did not run to an exit code"
    return EXIT_MEANING.get(code, f"unknown exit code {code}")


# How much earlier than the hard limit the binary is asked to stop by itself.
_GRACE_SECONDS = 5.0
# How long to wait for output after killing the binary.
_REAP_SECONDS = 2.0
# How much of the binary's stderr goes into the Airflow task log.
_STDERR_LOG_CHARS = 4000


@dataclass(frozen=True)
class CleanupTarget:
    """Which application to clean up: exactly one of ``driver_pod``, ``spark_app``, ``app_id``.

    Attributes:
        namespace: namespace of the application.
        driver_pod: name of the driver Pod (works even after the Pod is deleted).
        spark_app: name of the SparkApplication.
        app_id: the Spark application id (``spark-app-selector`` label).
        source: where the identity came from, for the log (``xcom``, ``operator``, ...).
    """

    namespace: str
    driver_pod: str | None = None
    spark_app: str | None = None
    app_id: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        given = [v for v in (self.driver_pod, self.spark_app, self.app_id) if v]
        if len(given) != 1:
            raise ValueError("exactly one of driver_pod, spark_app, app_id must be set")
        if not self.namespace:
            raise ValueError("namespace must be set")

    def args(self) -> list[str]:
        """The selector flags for ``sparkcm-hook cleanup``."""
        if self.driver_pod:
            return ["-n", self.namespace, "--driver-pod", self.driver_pod]
        if self.spark_app:
            return ["-n", self.namespace, "--spark-app", self.spark_app]
        return ["-n", self.namespace, "--app-id", str(self.app_id)]

    def describe(self) -> str:
        """Short human description, e.g. ``driver pod spark-pi-x-driver in ns``."""
        if self.driver_pod:
            what = f"driver pod {self.driver_pod}"
        elif self.spark_app:
            what = f"SparkApplication {self.spark_app}"
        else:
            what = f"Spark application id {self.app_id}"
        return f"{what} in namespace {self.namespace}"


@dataclass
class CleanupResult:
    """What one run of the binary did. ``ok`` is true only for exit code 0.

    Attributes:
        ok: the binary exited 0 (done, possibly with nothing to delete).
        exit_code: the binary's exit code; ``None`` when it did not run or was killed.
        reason: one line saying what happened, for logs.
        command: the command line that was (or would have been) run.
        deleted: names of the ConfigMaps the binary reports as deleted.
        skipped: names of the ConfigMaps it reports as skipped.
        failed: names of the ConfigMaps it could not delete.
        report: the parsed JSON result, when stdout held one.
        stderr: the binary's log output.
        seconds: wall time of the run.
    """

    ok: bool
    exit_code: int | None
    reason: str
    command: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None
    stderr: str = ""
    seconds: float = 0.0


def resolve_binary(binary: str) -> str | None:
    """Return the executable path for ``binary`` (a name on ``PATH`` or a path), or ``None``."""
    if os.sep in binary:
        return binary if os.path.isfile(binary) and os.access(binary, os.X_OK) else None
    return shutil.which(binary)


def build_command(
    target: CleanupTarget, settings: Settings, executable: str, kube_args: Sequence[str] = ()
) -> list[str]:
    """The full command line for one cleanup; ``kube_args`` say which cluster (see
    :meth:`sparkcm_airflow.hooks.sparkcm.SparkcmHook.binary_args`)."""
    inner = max(1, math.floor(settings.timeout - _GRACE_SECONDS)) if settings.timeout > _GRACE_SECONDS else 0
    cmd = [executable, "cleanup", *target.args(), "-o", "json"]
    if inner:
        cmd += ["--timeout", f"{inner}s"]
    if settings.dry_run:
        cmd.append("--dry-run")
    cmd += list(kube_args)
    cmd += list(settings.extra_args)
    return cmd


# The decisions an entry of the report's "entries" can carry, by the list
# CleanupResult files it under (a dry run's "would-delete" counts as deleted).
_DECISIONS = {
    "deleted": ("deleted", "would-delete"),
    "skipped": ("skipped",),
    "failed": ("failed",),
}


def _names(report: dict[str, Any], key: str) -> list[str]:
    """Names of the ConfigMaps the report files under ``key``.

    The report lists every ConfigMap once under ``entries`` with its
    ``decision``; binaries before that grouped them under ``deleted``,
    ``skipped`` and ``failed``, which are read when ``entries`` is absent.
    """
    entries = report.get("entries")
    if isinstance(entries, list):
        items = [e for e in entries if isinstance(e, dict) and e.get("decision") in _DECISIONS[key]]
    else:
        items = report.get(key) or []
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("name"):
            out.append(str(item["name"]))
    return out


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    except OSError:
        proc.kill()


def run_cleanup(
    target: CleanupTarget,
    settings: Settings,
    logger: logging.Logger | None = None,
    kube_args: Sequence[str] = (),
) -> CleanupResult:
    """Run the binary for ``target`` and return what happened. Never raises.

    The binary inherits this process's environment, so ``SPARKCM_*`` variables (for example
    ``SPARKCM_KUBECONFIG``) reach it. It is killed, with anything it started, after
    ``settings.timeout`` seconds.
    """
    logger = logger or log
    start = time.monotonic()
    try:
        return _run(target, settings, logger, start, kube_args)
    except Exception as exc:  # never let a surprise escape into Airflow
        logger.warning("sparkcm-hook: cleanup of %s not run: %s", target.describe(), exc)
        return CleanupResult(False, None, f"internal error: {exc}", seconds=time.monotonic() - start)


def _run(
    target: CleanupTarget, settings: Settings, logger: logging.Logger, start: float, kube_args: Sequence[str]
) -> CleanupResult:
    executable = resolve_binary(settings.binary)
    if executable is None:
        reason = f"binary {settings.binary!r} not found (set [sparkcm_hook] binary or PATH)"
        logger.warning("sparkcm-hook: cleanup of %s skipped: %s", target.describe(), reason)
        return CleanupResult(False, None, reason, command=build_command(target, settings, settings.binary, kube_args))
    cmd = build_command(target, settings, executable, kube_args)
    logger.info("sparkcm-hook: cleaning up %s (source: %s)", target.describe(), target.source or "caller")
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so a timeout kills the whole process group
        )
    except OSError as exc:
        reason = f"cannot start {executable}: {exc}"
        logger.warning("sparkcm-hook: cleanup of %s skipped: %s", target.describe(), reason)
        return CleanupResult(False, None, reason, command=cmd, seconds=time.monotonic() - start)
    try:
        stdout, stderr = proc.communicate(timeout=settings.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            stdout, stderr = proc.communicate(timeout=_REAP_SECONDS)
        except subprocess.TimeoutExpired:
            stdout, stderr = "", ""
        seconds = time.monotonic() - start
        reason = f"timed out after {settings.timeout:g}s and was killed"
        logger.warning("sparkcm-hook: cleanup of %s %s", target.describe(), reason)
        _log_stderr(logger, stderr, logging.WARNING)
        return CleanupResult(False, None, reason, command=cmd, stderr=stderr or "", seconds=seconds)
    seconds = time.monotonic() - start
    code = proc.returncode
    report: dict[str, Any] | None = None
    try:
        parsed = json.loads(stdout) if stdout.strip() else None
        if isinstance(parsed, dict):
            report = parsed
    except ValueError:
        report = None
    result = CleanupResult(
        ok=code == EXIT_OK,
        exit_code=code,
        reason=exit_meaning(code),
        command=cmd,
        report=report,
        stderr=stderr,
        seconds=seconds,
    )
    if report is not None:
        result.deleted = _names(report, "deleted")
        result.skipped = _names(report, "skipped")
        result.failed = _names(report, "failed")
    level = logging.INFO if code in (EXIT_OK, EXIT_STILL_RUNNING) else logging.WARNING
    logger.log(
        level,
        "sparkcm-hook: %s: exit %s (%s) in %.1fs; deleted %d, skipped %d, failed %d%s",
        target.describe(),
        code,
        result.reason,
        seconds,
        len(result.deleted),
        len(result.skipped),
        len(result.failed),
        f": {', '.join(result.deleted)}" if result.deleted else "",
    )
    _log_stderr(logger, stderr, level if code != EXIT_OK else logging.DEBUG)
    return result


def _log_stderr(logger: logging.Logger, stderr: str | None, level: int) -> None:
    if not stderr:
        return
    text = stderr.strip()
    if len(text) > _STDERR_LOG_CHARS:
        text = "..." + text[-_STDERR_LOG_CHARS:]
    logger.log(level, "sparkcm-hook stderr:\n%s", text)
