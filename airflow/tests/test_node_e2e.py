"""End to end on a real node: the Pod-mode cleanup example's Pod runs the sparkcm-hook image.

The control plane comes from internal/cmd/devenv with ``--node`` (kube-scheduler, containerd, runc
and a kubelet; root only), so Pods really run: the Spark Operator stand-in
(internal/cmd/fakeoperator ``--node-image``) runs the driver and executor as podstub containers that
the kubelet takes to Succeeded, and the example's SparkConfigMapCleanupOperator (Pod mode) starts a Pod
from the sparkcm-hook image, as the Helm chart's own ServiceAccount (rendered by helm; it does not
automount its token, the operator asks for it), that cleans up through in-cluster configuration.

Changes to the example DAG, made on the loaded objects only: the image the node holds
(``sparkcm-hook:testbed``, ``image_pull_policy="Never"``: no registry is reachable), ``get_logs=False``
on both tasks (the API server here never dials the kubelet), and ``delete_on_termination=False`` on the
Spark task so that garbage collection cannot remove the maps in sparkcm-hook's place.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest
import yaml
from conftest import EXAMPLES_DIR, REPO_ROOT, dagbag_class
from test_e2e import ANN_MAPS, GROUP, PLURAL, USER_MAP, VERSION, _manifest, _missing, _required, _stop, _wait, _wait_for

pytestmark = pytest.mark.e2e

HOOK_IMAGE = "sparkcm-hook:testbed"  # internal/kubecluster HookImage
STUB_IMAGE = "sparkcm-testbed/podstub:latest"  # internal/kubecluster StubImage


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not _required():
        pytest.skip("SPARKCM_AIRFLOW_E2E=0: end-to-end DAG runs skipped")
    if os.geteuid() != 0:
        pytest.skip("node: not root: a kubelet with containerd and runc needs root; node tests skip")
    devenv = os.environ.get("SPARKCM_E2E_DEVENV", "")
    fake = os.environ.get("SPARKCM_E2E_FAKEOPERATOR", "")
    if not os.access(devenv, os.X_OK) or not os.access(fake, os.X_OK):
        _missing("SPARKCM_E2E_DEVENV and SPARKCM_E2E_FAKEOPERATOR must be the built commands")
    import subprocess

    work = tmp_path_factory.mktemp("node-e2e")
    procs = []
    try:
        log = work / "devenv.log"
        proc = subprocess.Popen(
            [devenv, "up", "--dir", str(work / "devenv"), "--controller-manager", "--node"],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        procs.append(proc)
        _wait_for(work / "devenv" / "ready", proc, log, 600)
        kubeconfig = str(work / "devenv" / "kubeconfig")
        log = work / "fakeoperator.log"
        proc = subprocess.Popen(
            [fake, "--kubeconfig", kubeconfig, "--ready-file", str(work / "fake-ready"), "--node-image", STUB_IMAGE],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        procs.append(proc)
        _wait_for(work / "fake-ready", proc, log, 60)
        yield kubeconfig
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _chart_objects(ns: str) -> list[dict]:
    """The Helm chart's own ServiceAccount, Role and RoleBinding for release ``sparkcm-hook`` in ``ns``,
    rendered by helm (SPARKCM_HELM), so the Pod runs as exactly what users install."""
    import subprocess

    helm = os.environ.get("SPARKCM_HELM", "")
    if not os.access(helm, os.X_OK):
        _missing(f"SPARKCM_HELM={helm!r} is not the built helm (make helm)")
    out = subprocess.run(
        [
            helm, "template", "sparkcm-hook", str(REPO_ROOT / "deploy" / "helm" / "sparkcm-hook"), "--namespace", ns,
            "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml",
        ],
        capture_output=True, text=True, check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _namespace_with_the_charts_account(kubeconfig: str, bind: bool = True) -> tuple[str, object, object]:
    """A namespace with the user's map and the chart's ServiceAccount (automountServiceAccountToken:
    false), with the chart's Role bound to it unless ``bind`` is false."""
    from kubernetes import client, config, utils
    from kubernetes.client.rest import ApiException

    api = config.new_client_from_config(config_file=kubeconfig)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    ns = f"kpo-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        )
    except ApiException as e:
        if e.status != 409:  # the serviceaccount controller made it first
            raise
    core.create_namespaced_config_map(
        ns,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=USER_MAP), data={"spark-defaults.conf": "spark.ui.enabled false\n"}
        ),
    )
    objects = _chart_objects(ns)
    (sa,) = [o for o in objects if o["kind"] == "ServiceAccount"]
    assert sa["metadata"]["name"] == "sparkcm-hook" and sa["automountServiceAccountToken"] is False, sa
    if not bind:
        objects = [o for o in objects if o["kind"] != "RoleBinding"]
    utils.create_from_yaml(api, yaml_objects=objects, namespace=ns)
    return ns, core, custom


def _load_pod_dag(kubeconfig: str, monkeypatch: pytest.MonkeyPatch, manifest: dict):
    conn = {"conn_type": "kubernetes", "extra": {"kube_config_path": kubeconfig}}
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__SPARKCM_HOOK__ENABLED", "False")
    dag = dagbag_class()(dag_folder=str(EXAMPLES_DIR)).get_dag("sparkcm_pod_teardown")
    spark = dag.get_task("spark_pi")
    spark.get_logs = False
    spark.delete_on_termination = False
    spark.application_file = yaml.safe_dump(manifest)
    cleanup = dag.get_task("cleanup_configmaps")
    cleanup.image = HOOK_IMAGE
    cleanup.image_pull_policy = "Never"
    cleanup.get_logs = False
    return dag


def _states(dr) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in dr.get_task_instances(session=session)}


def test_pod_mode_cleanup_runs_the_image_on_a_node_as_the_charts_account_and_cleans_the_spark_tasks_maps(
    node_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, core, custom = _namespace_with_the_charts_account(node_cluster)
    dag = _load_pod_dag(node_cluster, monkeypatch, _manifest("COMPLETED", 3))

    dr = dag.test(run_conf={"namespace": ns})
    states = _states(dr)
    assert states == {"spark_pi": "success", "cleanup_configmaps": "success"}, states
    assert str(dr.state) == "success"

    apps = custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
    assert len(apps) == 1, apps
    app = apps[0]
    maps = app["metadata"]["annotations"][ANN_MAPS].split(",")
    assert len(maps) >= 2, maps
    left = {cm.metadata.name for cm in core.list_namespaced_config_map(ns).items}
    for name in maps:
        assert name not in left, f"{name} of the Spark task is still there"
    assert USER_MAP in left
    # The driver ran on the node: the kubelet, not a status patch, ended it.
    driver = core.read_namespaced_pod(app["status"]["driverInfo"]["podName"], ns)
    assert driver.status.phase == "Succeeded", driver.status
    assert driver.spec.node_name, "the driver was never scheduled"
    status = {s.name: s for s in driver.status.container_statuses}
    assert status["spark-kubernetes-driver"].state.terminated.container_id.startswith("containerd://")
    # The cleanup Pod's summary Event on the SparkApplication: the binary ran in the cluster.
    _wait(
        "the cleanup's summary Event",
        lambda: [
            e
            for e in core.list_namespaced_event(ns).items
            if e.reason == "SparkConfigMapsCleaned" and e.involved_object.name == app["metadata"]["name"]
        ],
        30,
    )


def test_pod_mode_cleanup_that_is_refused_fails_the_cleanup_task(
    node_cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart's ServiceAccount without its RoleBinding: the Pod's sparkcm-hook exits 3 (refused),
    the cleanup task fails, and the maps are all still there. The DAG run follows the Spark task."""
    ns, core, custom = _namespace_with_the_charts_account(node_cluster, bind=False)
    dag = _load_pod_dag(node_cluster, monkeypatch, _manifest("COMPLETED", 3))

    dr = dag.test(run_conf={"namespace": ns})
    states = _states(dr)
    assert states == {"spark_pi": "success", "cleanup_configmaps": "failed"}, states
    (app,) = custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)["items"]
    left = {cm.metadata.name for cm in core.list_namespaced_config_map(ns).items}
    for name in app["metadata"]["annotations"][ANN_MAPS].split(","):
        assert name in left, f"{name} was deleted by a cleanup that was refused"
