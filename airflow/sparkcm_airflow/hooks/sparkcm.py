"""A hook that runs ``sparkcm-hook`` against the cluster of a Kubernetes connection.

The binary is Go and reads a kubeconfig, not an Airflow connection. Rather than re-implement how the
cncf-kubernetes provider turns a ``kubernetes`` connection into a client (``in_cluster``,
``kube_config_path``, inline ``kube_config``, ``cluster_context``, ``disable_verify_ssl``, the default
fallbacks), :class:`SparkcmHook` *is* that provider's ``KubernetesHook``: it lets it build the client,
then writes the client's resolved configuration (server, CA, client certificate or token) into a
private kubeconfig file that exists only while the binary runs. The cleanup then talks to exactly the
cluster, as exactly the identity, the Spark task used, never the worker's own defaults.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import yaml
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

from sparkcm_airflow.cleanup import CleanupResult, CleanupTarget, resolve_binary, run_cleanup
from sparkcm_airflow.config import Settings

log = logging.getLogger("sparkcm_airflow")

#: The only context in the kubeconfig written for the binary; passed with --context so that a
#: SPARKCM_CONTEXT in the worker's environment cannot point the binary at another one.
CONTEXT = "airflow-connection"

#: Flags that would fight the connection's kubeconfig.
_CONFIG_FLAGS = ("--kubeconfig", "--context")


class ConnectionConfigError(Exception):
    """The connection's configuration cannot be handed to the binary as it is."""


class SparkcmHook(KubernetesHook):
    """``KubernetesHook`` that can also run ``sparkcm-hook cleanup`` with the connection's credentials.

    Args:
        conn_id: a ``kubernetes`` connection (default ``kubernetes_default``), as for ``KubernetesHook``.
        Other arguments go to ``KubernetesHook``.
    """

    hook_name = "sparkcm-hook (Kubernetes connection)"

    def kubeconfig(self) -> dict[str, Any]:
        """The connection's resolved client configuration as a kubeconfig document.

        Raises:
            ConnectionConfigError: the client authenticates in a way a kubeconfig cannot carry here
                (an API key that is not a bearer token).
        """
        cfg = self.get_conn().configuration
        cluster: dict[str, Any] = {"server": cfg.host}
        if not cfg.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        elif cfg.ssl_ca_cert:
            cluster["certificate-authority"] = os.path.abspath(cfg.ssl_ca_cert)
        if getattr(cfg, "tls_server_name", None):
            cluster["tls-server-name"] = cfg.tls_server_name
        if cfg.proxy:
            cluster["proxy-url"] = cfg.proxy
        user: dict[str, Any] = {}
        if cfg.cert_file:
            user["client-certificate"] = os.path.abspath(cfg.cert_file)
        if cfg.key_file:
            user["client-key"] = os.path.abspath(cfg.key_file)
        # auth_settings() is what the client itself sends: it names the header whatever the client
        # version calls the key ("authorization" before kubernetes 35, "BearerToken" since), and it runs
        # the refresh hook first, so an exec plugin's or an in-cluster token is fresh when the binary starts.
        auth = next(
            (
                str(a["value"])
                for a in cfg.auth_settings().values()
                if a.get("in") == "header" and str(a.get("key", "")).lower() == "authorization" and a.get("value")
            ),
            None,
        )
        if auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise ConnectionConfigError(
                    f"connection {self.conn_id!r}: its client authenticates with a {scheme!r} header, "
                    "which sparkcm-hook cannot be given (only bearer tokens and client certificates)"
                )
            user["token"] = token
        if cfg.username and cfg.password:
            user["username"], user["password"] = cfg.username, cfg.password
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": cluster}],
            "users": [{"name": CONTEXT, "user": user}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
            "current-context": CONTEXT,
        }

    @contextlib.contextmanager
    def binary_args(self) -> Iterator[list[str]]:
        """Yield ``--kubeconfig FILE --context NAME`` for the connection; the file (mode 0600, it may
        hold a token) is removed when the block ends."""
        doc = self.kubeconfig()
        fd, path = tempfile.mkstemp(prefix="sparkcm-kubeconfig-", suffix=".yaml")
        try:
            with os.fdopen(fd, "w") as f:
                yaml.safe_dump(doc, f)
            yield ["--kubeconfig", path, "--context", CONTEXT]
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def namespace(self) -> str | None:
        """The connection's ``namespace`` extra, if it has one."""
        try:
            return self.get_namespace() or None
        except Exception:
            return None


def run_cleanup_with_connection(
    target: CleanupTarget,
    settings: Settings,
    conn_id: str | None,
    logger: logging.Logger | None = None,
) -> CleanupResult:
    """Run the cleanup with the credentials of ``conn_id`` (``settings.kubernetes_conn_id`` when
    ``None``), or with the binary's own configuration when ``settings.use_worker_credentials``.
    Never raises: a connection that cannot be used is a failed result that says why, and the binary
    is not started, so it cannot fall back to another cluster."""
    logger = logger or log
    # A missing binary is reported as such (run_cleanup says so) before any connection is read.
    if settings.use_worker_credentials or resolve_binary(settings.binary) is None:
        return run_cleanup(target, settings, logger)
    conn_id = conn_id or settings.kubernetes_conn_id
    clash = [a for a in settings.extra_args if a.split("=", 1)[0] in _CONFIG_FLAGS]
    if clash:
        reason = (
            f"[sparkcm_hook] extra_args sets {', '.join(clash)} but the cleanup uses connection {conn_id!r}; "
            "set use_worker_credentials = True to let the binary find its own configuration"
        )
        logger.warning("sparkcm-hook: cleanup of %s not run: %s", target.describe(), reason)
        return CleanupResult(False, None, reason)
    try:
        hook = SparkcmHook(conn_id=conn_id)
        with hook.binary_args() as kube_args:
            return run_cleanup(target, settings, logger, kube_args=kube_args)
    except Exception as exc:
        reason = f"connection {conn_id!r} cannot be used: {exc}"
        logger.warning("sparkcm-hook: cleanup of %s not run: %s", target.describe(), reason)
        return CleanupResult(False, None, reason)


def task_conn_id(task: Any) -> str | None:
    """The ``kubernetes_conn_id`` the Spark task ran with, if it names a usable one."""
    value = getattr(task, "kubernetes_conn_id", None) if task is not None else None
    if not isinstance(value, str) or not value.strip() or "{{" in value:
        return None
    return value.strip()


def connection_namespace(conn_id: str) -> str | None:
    """The ``namespace`` extra of connection ``conn_id``; ``None`` when it has none or cannot be read."""
    try:
        return SparkcmHook(conn_id=conn_id).namespace()
    except Exception as exc:
        log.debug("sparkcm-hook: no namespace from connection %s: %s", conn_id, exc)
        return None
