"""SparkcmHook: the binary runs against the cluster, as the identity, of the Spark task's own
Kubernetes connection, resolved by the cncf-kubernetes provider's KubernetesHook."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import FakeTI, kubeconfig_file, set_connection

from sparkcm_airflow import callback, listener
from sparkcm_airflow.cleanup import CleanupTarget
from sparkcm_airflow.config import Settings
from sparkcm_airflow.hooks.sparkcm import CONTEXT, SparkcmHook, run_cleanup_with_connection

XCOMS = {"pod_name": "spark-pi-ab12cd34-driver", "pod_namespace": "jobs"}


@pytest.fixture
def other_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = kubeconfig_file(tmp_path / "other", "https://other.invalid:6443", "other-token")
    set_connection(monkeypatch, "other_cluster", {"kube_config_path": str(path), "namespace": "other-ns"})
    return "other_cluster"


def test_kubeconfig_carries_the_connections_server_and_token(other_cluster):
    doc = SparkcmHook(conn_id=other_cluster).kubeconfig()
    assert doc["current-context"] == CONTEXT
    (cluster,) = doc["clusters"]
    assert cluster["cluster"]["server"] == "https://other.invalid:6443"
    assert cluster["cluster"]["insecure-skip-tls-verify"] is True
    assert doc["users"][0]["user"]["token"] == "other-token"


def test_inline_kube_config_extra_is_resolved_by_the_kubernetes_hook(monkeypatch):
    import yaml

    inline = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://inline.invalid", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "inline-token"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    set_connection(monkeypatch, "inline", {"kube_config": yaml.safe_dump(inline)})
    doc = SparkcmHook(conn_id="inline").kubeconfig()
    assert doc["clusters"][0]["cluster"]["server"] == "https://inline.invalid"
    assert doc["users"][0]["user"]["token"] == "inline-token"


def test_binary_args_file_is_private_and_removed_afterwards(other_cluster):
    with SparkcmHook(conn_id=other_cluster).binary_args() as args:
        assert args[0] == "--kubeconfig" and args[2:] == ["--context", CONTEXT]
        path = Path(args[1])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.exists()


def test_cleanup_gets_the_named_connections_cluster(stub, other_cluster):
    result = run_cleanup_with_connection(
        CleanupTarget("jobs", driver_pod="a-driver"), Settings(binary=str(stub.path)), other_cluster
    )
    assert result.ok, result.reason
    assert stub.kubeconfig["clusters"][0]["cluster"]["server"] == "https://other.invalid:6443"
    assert stub.args[stub.args.index("--context") + 1] == CONTEXT


def test_a_missing_connection_runs_nothing_and_says_which(stub):
    result = run_cleanup_with_connection(
        CleanupTarget("jobs", driver_pod="a-driver"), Settings(binary=str(stub.path)), "no_such_conn"
    )
    assert not result.ok and result.exit_code is None
    assert "no_such_conn" in result.reason
    assert not stub.called  # no fallback to whatever cluster the worker's defaults name


def test_extra_args_that_name_another_kubeconfig_are_refused(stub):
    settings = Settings(binary=str(stub.path), extra_args=("--kubeconfig", "/etc/other"))
    result = run_cleanup_with_connection(CleanupTarget("jobs", driver_pod="a-driver"), settings, None)
    assert not result.ok and "use_worker_credentials" in result.reason
    assert not stub.called


def test_use_worker_credentials_passes_no_kubeconfig(stub, monkeypatch):
    settings = Settings(binary=str(stub.path), use_worker_credentials=True)
    result = run_cleanup_with_connection(CleanupTarget("jobs", driver_pod="a-driver"), settings, "no_such_conn")
    assert result.ok
    assert "--kubeconfig" not in stub.args


def test_listener_uses_the_spark_tasks_own_connection(stub, settings_env, spark_operator, other_cluster):
    ti = FakeTI(task=spark_operator(kubernetes_conn_id=other_cluster), xcoms=dict(XCOMS))
    result = listener.handle(ti, "succeeded")
    assert result is not None and result.ok, result and result.reason
    assert stub.kubeconfig["clusters"][0]["cluster"]["server"] == "https://other.invalid:6443"


def test_callback_uses_the_spark_tasks_own_connection(stub, settings_env, spark_operator, other_cluster):
    ti = FakeTI(task=spark_operator(kubernetes_conn_id=other_cluster), xcoms=dict(XCOMS))
    result = callback.run_for_context({"ti": ti})
    assert result is not None and result.ok, result and result.reason
    assert stub.kubeconfig["users"][0]["user"]["token"] == "other-token"


def test_connection_namespace_is_the_fallback_namespace(stub, settings_env, other_cluster):
    """No XCom namespace and an operator without one: the connection's namespace extra is used."""
    from types import SimpleNamespace

    task = SimpleNamespace(kubernetes_conn_id=other_cluster, namespace=None, pod=None)
    ti = FakeTI(task=task, xcoms={"pod_name": "spark-pi-ab12cd34-driver"})
    result = callback.run_for_context({"ti": ti})
    assert result is not None and result.ok, result and result.reason
    assert stub.args[:3] == ["cleanup", "-n", "other-ns"]


def test_worker_kubeconfig_environment_does_not_redirect_the_binary(stub, other_cluster, monkeypatch, tmp_path):
    """SPARKCM_KUBECONFIG / SPARKCM_CONTEXT of the worker lose to the connection's explicit flags."""
    monkeypatch.setenv("SPARKCM_CONTEXT", "worker-context")
    monkeypatch.setenv("SPARKCM_KUBECONFIG", os.fspath(tmp_path / "worker-kubeconfig"))
    run_cleanup_with_connection(
        CleanupTarget("jobs", driver_pod="a-driver"), Settings(binary=str(stub.path)), other_cluster
    )
    args = stub.args
    assert args[args.index("--context") + 1] == CONTEXT
    assert args[args.index("--kubeconfig") + 1] != os.environ["SPARKCM_KUBECONFIG"]
