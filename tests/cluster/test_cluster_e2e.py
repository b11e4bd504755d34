"""The real control plane (built binaries needed): selected by `pytest -m e2e`, run by `make e2e`."""
from __future__ import annotations

import copy
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from estate.cluster import e2e
from estate.cluster.control_plane import Cluster
from estate.local.process import port_free

pytestmark = pytest.mark.e2e


def _free_base() -> int:
    for base in range(32000, 34000, 100):
        if all(port_free(p) for p in range(base, base + 50)):
            return base
    raise RuntimeError("no free block of ports for the test cluster")


@pytest.fixture(scope="module")
def cluster():
    workdir = Path(tempfile.mkdtemp(prefix="estate-cluster-test-", dir="/tmp"))
    c = Cluster(workdir / "cluster", _free_base())
    try:
        started, _ = c.up(print, e2e.storage_classes, nodes=3)
        assert started == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
        yield c
    finally:
        c.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def test_up_is_idempotent_and_every_node_is_ready(cluster: Cluster) -> None:
    assert cluster.up(print, e2e.storage_classes, nodes=3) == ([], 0.0)
    assert all(s.pid for s in cluster.status())
    nodes = cluster.nodes()
    assert [n.name for n in nodes] == ["kwok-node-0", "kwok-node-1", "kwok-node-2"] and all(n.ready for n in nodes)


def test_dev_stack_end_to_end(cluster: Cluster) -> None:
    (r,) = e2e.run_e2e(cluster.kubeconfig, ["dev"], print)
    assert r.failures == []
    assert r.accepted == r.objects > 50
    assert r.workloads[0] == r.workloads[1] > 0 and r.claims[0] == r.claims[1] > 0
    assert r.jobs[0] == r.jobs[1] and r.cronjobs[0] == r.cronjobs[1] > 0
    assert r.reapply == [] and r.update_ok and r.immutable_ok and r.leftovers == []
    assert "Forbidden" in r.immutable


def test_a_pod_the_api_server_cannot_create_fails_the_run(cluster: Cluster, monkeypatch) -> None:
    """Planted defect: a Deployment naming a ServiceAccount the stack does not declare is accepted,
    but its pods are refused by admission, so it never becomes Ready — the run must say which."""
    real = e2e.rendered_objects

    def broken(stack: str, stack_path=None):
        objects = real(stack, stack_path)
        dep = copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment" and o["spec"].get("replicas")))
        dep["metadata"]["name"] = "planted"
        dep["spec"]["selector"]["matchLabels"]["planted"] = "yes"
        dep["spec"]["template"]["metadata"]["labels"]["planted"] = "yes"
        dep["spec"]["template"]["spec"]["serviceAccountName"] = "not-declared"
        return [*objects, dep]

    monkeypatch.setattr(e2e, "rendered_objects", broken)
    r = e2e.StackRun("dev", cluster.kubeconfig, print, timeout=30).run()
    assert not r.ok
    assert any("Deployment planted 0/" in f for f in r.failures), r.failures
    assert r.leftovers == []  # the run still tore the stack down


def test_a_render_that_differs_each_time_fails_the_re_apply(cluster: Cluster, monkeypatch) -> None:
    """Planted defect: an annotation that changes on every render (a timestamp) — what would make
    every `pulumi up` update objects for nothing. The re-apply check must name the object."""
    real = e2e.rendered_objects

    def drifting(stack: str, stack_path=None):
        objects = real(stack, stack_path)
        cm = next(o for o in objects if o["kind"] == "ConfigMap")
        cm["metadata"].setdefault("annotations", {})["rendered-at"] = str(time.monotonic_ns())
        return objects

    monkeypatch.setattr(e2e, "rendered_objects", drifting)
    r = e2e.StackRun("dev", cluster.kubeconfig, print, timeout=60).run()
    assert any("ConfigMap estate-dev/" in line and "metadata.annotations" in line for line in r.reapply), r.reapply
    assert any(f.startswith("re-applying the same render changed") for f in r.failures)
    assert r.leftovers == []


def test_down_keeps_data_and_destroy_deletes_it(cluster: Cluster) -> None:
    from estate.cluster.client import core

    uids = {n.metadata.name: n.metadata.uid for n in core(cluster.kubeconfig).list_node().items}
    assert cluster.down() == ["kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"]
    assert not cluster.any_running() and (cluster.workdir / "etcd").is_dir()
    started, _ = cluster.up(print, e2e.storage_classes, nodes=3)
    assert len(started) == 5
    # The nodes came back from etcd: same objects, none re-created.
    assert {n.metadata.name: n.metadata.uid for n in core(cluster.kubeconfig).list_node().items} == uids
    cluster.destroy()
    assert not cluster.workdir.exists() and not cluster.any_running()
