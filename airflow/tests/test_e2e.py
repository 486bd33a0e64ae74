"""End to end: the example DAGs run with dag.test() against the local control plane.

The control plane comes from internal/cmd/devenv (kube-apiserver, etcd, kube-controller-manager), the
Spark Operator and kubelet are played by internal/cmd/fakeoperator, which submits each application
with the real spark-submit (so the driver Pod and its ConfigMaps are Spark's own), and the cleanup is
the real bin/sparkcm-hook. Each test puts decoys in a fresh namespace (another finished application, a
user-supplied map the application mounts, a labelled map of another application), runs one DAG, and
then checks that exactly this application's ConfigMaps are gone and every object that existed before
the run is untouched (same UID and resourceVersion).

Two changes to the example DAGs, made on the loaded objects only: ``get_logs=False`` (no kubelet to
stream logs from), and ``delete_on_termination=False``, so that the SparkApplication and its driver
Pod stay and garbage collection cannot remove the maps in sparkcm-hook's place. The application
manifest is the example template plus the stand-in's outcome annotations and a user-supplied map.

hack/airflow-test.sh provides SPARKCM_HOOK_BIN, SPARKCM_E2E_DEVENV and SPARKCM_E2E_FAKEOPERATOR;
SPARKCM_E2E_KUBECONFIG reuses an already running control plane instead of starting one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES_DIR, REPO_ROOT, dagbag_class, xcom_model

GROUP, VERSION, PLURAL = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"
ANN_OUTCOME = "sparkcm-hook.test/outcome"
ANN_RUN = "sparkcm-hook.test/run-seconds"
ANN_DELAY = "sparkcm-hook.test/start-delay-seconds"
ANN_MAPS = "sparkcm-hook.test/maps"
ANN_DRIVER = "sparkcm-hook.test/driver-pod"
USER_MAP = "user-spark-defaults"
# Long enough for Airflow's start-up poll (every 10 s) to see RUNNING before the failure, with
# room for a slow machine: a poll that came after the failure would take the start-up failure path.
FAIL_AFTER_RUNNING_SECONDS = 16

pytestmark = pytest.mark.e2e


def _required() -> bool:
    return os.environ.get("SPARKCM_AIRFLOW_E2E", "0") != "0"


def _missing(what: str) -> None:
    if _required():
        pytest.fail(f"end-to-end run required but {what}")
    pytest.skip(f"{what} (run through hack/airflow-test.sh)")


@dataclass
class Cluster:
    kubeconfig: str
    binary: str
    core: Any
    custom: Any


def _wait_for(path: Path, proc: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{proc.args[0]} not ready after {seconds:.0f}s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not _required() and not os.environ.get("SPARKCM_E2E_KUBECONFIG"):
        pytest.skip("SPARKCM_AIRFLOW_E2E=0: end-to-end DAG runs skipped")
    binary = os.environ.get("SPARKCM_HOOK_BIN", "")
    if not os.access(binary, os.X_OK):
        _missing(f"SPARKCM_HOOK_BIN={binary!r} is not the built sparkcm-hook")
    fake = os.environ.get("SPARKCM_E2E_FAKEOPERATOR", "")
    if not os.access(fake, os.X_OK):
        _missing(f"SPARKCM_E2E_FAKEOPERATOR={fake!r} is not the built internal/cmd/fakeoperator")
    work = tmp_path_factory.mktemp("e2e")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        kubeconfig = os.environ.get("SPARKCM_E2E_KUBECONFIG", "")
        if not kubeconfig:
            devenv = os.environ.get("SPARKCM_E2E_DEVENV", "")
            if not os.access(devenv, os.X_OK):
                _missing(f"SPARKCM_E2E_DEVENV={devenv!r} is not the built internal/cmd/devenv")
            log = work / "devenv.log"
            proc = subprocess.Popen(
                [devenv, "up", "--dir", str(work / "devenv"), "--controller-manager"],
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
            procs.append(proc)
            _wait_for(work / "devenv" / "ready", proc, log, 300)
            kubeconfig = str(work / "devenv" / "kubeconfig")
        log = work / "fakeoperator.log"
        proc = subprocess.Popen(
            [fake, "--kubeconfig", kubeconfig, "--ready-file", str(work / "fake-ready")],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        procs.append(proc)
        _wait_for(work / "fake-ready", proc, log, 60)

        from kubernetes import client, config

        api = config.new_client_from_config(config_file=kubeconfig)
        yield Cluster(kubeconfig, binary, client.CoreV1Api(api), client.CustomObjectsApi(api))
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _manifest(outcome: str, run_seconds: float, start_delay: float = 0) -> dict[str, Any]:
    """The example template, plus the stand-in's annotations and a user-supplied map."""
    body = yaml.safe_load((EXAMPLES_DIR / "spark-application.yaml").read_text())
    body["metadata"]["annotations"] = {ANN_OUTCOME: outcome, ANN_RUN: str(run_seconds), ANN_DELAY: str(start_delay)}
    body["spec"]["sparkConfigMap"] = USER_MAP
    return body


def _wait(what: str, check, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


@dataclass
class Namespace:
    name: str
    decoy_app: str
    decoy_maps: list[str]


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[Namespace]:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    ns = f"af-{uuid.uuid4().hex[:8]}"
    core, custom = cluster.core, cluster.custom
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        )
    except ApiException as e:
        if e.status != 409:
            raise

    core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=USER_MAP), data={"spark-defaults.conf": "spark.ui.enabled false\n"}
        ),
    )
    # An executor map of some other application, labelled as Spark labels it, owned by nobody.
    core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name="spark-exec-00000000deadbeef-conf-map",
                labels={"spark-app-selector": "spark-" + "0" * 24 + "deadbeef", "spark-role": "executor"},
            ),
            data={"log4j2.properties": "rootLogger.level = info\n"},
        ),
    )
    # Another application, finished before ours; its maps are left for somebody else.
    decoy = _manifest("COMPLETED", 0)
    decoy["metadata"]["name"] = "other-app"
    decoy["metadata"]["namespace"] = ns
    custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, decoy)

    def decoy_done():
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "other-app")
        state = obj.get("status", {}).get("applicationState", {}).get("state")
        maps = obj["metadata"].get("annotations", {}).get(ANN_MAPS)
        return maps.split(",") if state == "COMPLETED" and maps else None

    # A real spark-submit: a JVM start, seconds on a busy machine.
    decoy_maps = _wait("the decoy application", decoy_done, 180)
    yield Namespace(ns, "other-app", decoy_maps)
    with contextlib.suppress(ApiException):  # best effort: the control plane is thrown away anyway
        core.delete_namespace(ns)


def _exists(read, name: str, ns: str) -> bool:
    from kubernetes.client.rest import ApiException

    try:
        read(name, ns)
        return True
    except ApiException as e:
        if e.status == 404:
            return False
        raise


def _snapshot(cluster: Cluster, ns: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, name) -> (uid, resourceVersion) of what a cleanup could touch."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, items in (
        ("ConfigMap", cluster.core.list_namespaced_config_map(ns).items),
        ("Pod", cluster.core.list_namespaced_pod(ns).items),
        ("ServiceAccount", cluster.core.list_namespaced_service_account(ns).items),
        ("Secret", cluster.core.list_namespaced_secret(ns).items),
    ):
        for o in items:
            out[(kind, o.metadata.name)] = (o.metadata.uid, o.metadata.resource_version)
    # Published by kube-controller-manager when it runs that controller, at a moment of its choosing.
    out.pop(("ConfigMap", "kube-root-ca.crt"), None)
    for o in cluster.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]:
        meta = o["metadata"]
        out[("SparkApplication", meta["name"])] = (meta["uid"], meta["resourceVersion"])
    return out


@pytest.fixture
def airflow_env(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """What a worker next to the cluster would have: a Kubernetes connection and the binary on PATH,
    but no Kubernetes configuration of its own; the listener plugin off unless a test turns it on."""
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": cluster.kubeconfig}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    # The worker's own configuration points nowhere: every cleanup must use the Kubernetes connection.
    monkeypatch.setenv("SPARKCM_KUBECONFIG", "/nonexistent/worker-kubeconfig")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("PATH", f"{Path(cluster.binary).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__BINARY", cluster.binary)
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__TIMEOUT", "60")
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "False")
    return monkeypatch


@dataclass
class Run:
    dag_run: Any
    states: dict[str, str]
    app: dict[str, Any]
    maps: list[str]
    driver_pod: str
    pushed_pod_name: Any


def _run(cluster: Cluster, ns: Namespace, dag_id: str, manifest: dict[str, Any], adjust: Any = None) -> Run:
    from airflow.utils.session import create_session

    XComModel = xcom_model()
    dag = dagbag_class()(dag_folder=str(EXAMPLES_DIR)).get_dag(dag_id)
    spark = dag.get_task("spark_pi")
    spark.get_logs = False
    spark.delete_on_termination = False
    spark.application_file = yaml.safe_dump(manifest)
    if adjust is not None:
        adjust(dag)

    dr = dag.test(run_conf={"namespace": ns.name})
    with create_session() as session:
        states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances(session=session)}
        pushed = (
            session.query(XComModel)
            .filter_by(dag_id=dag_id, run_id=dr.run_id, task_id="spark_pi", key="pod_name")
            .one_or_none()
        )
    apps = [
        o
        for o in cluster.custom.list_namespaced_custom_object(GROUP, VERSION, ns.name, PLURAL)["items"]
        if o["metadata"]["name"] != ns.decoy_app
    ]
    assert len(apps) == 1, [a["metadata"]["name"] for a in apps]
    app = apps[0]
    ann = app["metadata"].get("annotations", {})
    assert ann.get(ANN_MAPS), f"the stand-in never ran {app['metadata']['name']}"
    spark_dirs = [d for d in os.environ.get("SPARKCM_SPARK", "").split(os.pathsep) if d.strip()]
    if spark_dirs:
        # Real spark-submit labels the driver with its own version, not the manifest's sparkVersion.
        versions = {(Path(d) / "version").read_text().strip() for d in spark_dirs}
        driver = cluster.core.read_namespaced_pod(ann[ANN_DRIVER], ns.name)
        assert driver.metadata.labels.get("spark-version") in versions, driver.metadata.labels
    return Run(dr, states, app, ann[ANN_MAPS].split(","), ann[ANN_DRIVER], pushed.value if pushed else None)


def _assert_only_the_apps_maps_are_gone(cluster: Cluster, ns: Namespace, before: dict, run: Run) -> None:
    after = _snapshot(cluster, ns.name)
    assert len(run.maps) >= 2, run.maps  # at least the driver conf and the pod-template maps
    for name in run.maps:
        assert ("ConfigMap", name) not in after, f"{name} of the application is still there"
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert changed == {}, f"objects that existed before the run were changed or deleted: {changed}"
    maps_before = {name for kind, name in before if kind == "ConfigMap"}
    new_maps = {name for kind, name in after if kind == "ConfigMap"} - maps_before
    assert new_maps == set(), f"unexpected new ConfigMaps: {new_maps}"
    for name in [*ns.decoy_maps, USER_MAP, "spark-exec-00000000deadbeef-conf-map"]:
        assert ("ConfigMap", name) in after
    # The application itself and its driver Pod are not sparkcm-hook's to delete.
    assert ("SparkApplication", run.app["metadata"]["name"]) in after
    assert ("Pod", run.driver_pod) in after


def _expect(run: Run, spark: str, dag_run: str, **others: str) -> None:
    assert run.states.get("spark_pi") == spark, run.states
    for task, state in others.items():
        assert run.states.get(task) == state, run.states
    assert str(run.dag_run.state) == dag_run, run.states


def _state(run: Run) -> str:
    return run.app.get("status", {}).get("applicationState", {}).get("state", "")


def test_teardown_dag_cleans_up_after_success(cluster, namespace, airflow_env):
    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_teardown", _manifest("COMPLETED", 1))
    _expect(run, "success", "success", cleanup_configmaps="success")
    assert _state(run) == "COMPLETED"
    assert run.pushed_pod_name == run.driver_pod
    _assert_only_the_apps_maps_are_gone(cluster, namespace, before, run)


def test_teardown_that_cannot_clean_up_fails_its_task(cluster, namespace, airflow_env, tmp_path):
    """The cleanup's connection carries a token the API server rejects: sparkcm-hook exits 3, the
    cleanup task fails with that meaning, and nothing is deleted. The DAG run follows the Spark task."""
    doc = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    for user in doc["users"]:
        user["user"] = {"token": "not-a-valid-token"}
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text(yaml.safe_dump(doc))
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(broken)}}
    airflow_env.setenv("AIRFLOW_CONN_BROKEN", json.dumps(conn))

    def use_broken_connection(dag: Any) -> None:
        dag.get_task("cleanup_configmaps").kubernetes_conn_id = "broken"

    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_teardown", _manifest("COMPLETED", 1), adjust=use_broken_connection)
    _expect(run, "success", "success", cleanup_configmaps="failed")
    after = _snapshot(cluster, namespace.name)
    for name in run.maps:
        assert ("ConfigMap", name) in after, f"{name} was deleted by a cleanup that was refused"
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert changed == {}, f"a refused cleanup changed objects: {changed}"


def test_teardown_dag_cleans_up_after_failure(cluster, namespace, airflow_env):
    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_teardown", _manifest("FAILED", FAIL_AFTER_RUNNING_SECONDS))
    _expect(run, "failed", "failed", cleanup_configmaps="success")
    assert _state(run) == "FAILED"
    _assert_only_the_apps_maps_are_gone(cluster, namespace, before, run)


def test_listener_cleans_up_after_success_with_no_cleanup_in_the_dag(cluster, namespace, airflow_env):
    airflow_env.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "True")
    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_listener_only", _manifest("COMPLETED", 1))
    _expect(run, "success", "success")
    _assert_only_the_apps_maps_are_gone(cluster, namespace, before, run)


def test_listener_cleans_up_after_failure_with_no_cleanup_in_the_dag(cluster, namespace, airflow_env):
    airflow_env.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "True")
    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_listener_only", _manifest("FAILED", FAIL_AFTER_RUNNING_SECONDS))
    _expect(run, "failed", "failed")
    assert run.pushed_pod_name == run.driver_pod
    _assert_only_the_apps_maps_are_gone(cluster, namespace, before, run)


def test_listener_cleans_up_when_the_app_failed_before_the_driver_was_recorded(cluster, namespace, airflow_env):
    """FAILED at start-up: the operator raises before pushing XCom pod_name; the listener falls
    back to the SparkApplication the operator created."""
    airflow_env.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "True")
    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_listener_only", _manifest("FAILED", 0, start_delay=1))
    _expect(run, "failed", "failed")
    assert run.pushed_pod_name is None
    _assert_only_the_apps_maps_are_gone(cluster, namespace, before, run)


def test_listener_opt_out_leaves_the_maps(cluster, namespace, airflow_env):
    airflow_env.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "True")
    dag = dagbag_class()(dag_folder=str(EXAMPLES_DIR)).get_dag("sparkcm_listener_only")
    spark = dag.get_task("spark_pi")
    spark.get_logs, spark.delete_on_termination = False, False
    spark.application_file = yaml.safe_dump(_manifest("COMPLETED", 1))
    spark.params["sparkcm_hook_cleanup"] = False
    dr = dag.test(run_conf={"namespace": namespace.name})
    assert str(dr.state) == "success"
    (app,) = [
        o
        for o in cluster.custom.list_namespaced_custom_object(GROUP, VERSION, namespace.name, PLURAL)["items"]
        if o["metadata"]["name"] != namespace.decoy_app
    ]
    maps = app["metadata"]["annotations"][ANN_MAPS].split(",")
    assert all(_exists(cluster.core.read_namespaced_config_map, m, namespace.name) for m in maps)


def test_failure_callback_cleans_up_after_failure(cluster, namespace, airflow_env):
    before = _snapshot(cluster, namespace.name)
    run = _run(cluster, namespace, "sparkcm_failure_callback", _manifest("FAILED", FAIL_AFTER_RUNNING_SECONDS))
    _expect(run, "failed", "failed")
    _assert_only_the_apps_maps_are_gone(cluster, namespace, before, run)
