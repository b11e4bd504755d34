"""The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
and kwok, on 127.0.0.1, from one work dir (``.estate/cluster``), by pid file like the local estate.

Work dir layout: ``pki/`` (CAs, certificates, service-account key; keys 0600), ``kubeconfig`` (the
admin's, 0600), ``kubeconfigs/`` (one per component), ``etcd/`` (the data), ``kwok/stages.yaml``,
``run/`` (pid files), ``logs/``, ``cluster.json`` (the base port, so later commands find it).
"""
from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from estate.cluster import build, stages
from estate.cluster.pki import ClusterPKI, write_kubeconfigs
from estate.errors import EstateError
from estate.local.binaries import Progress
from estate.local.process import ServerProcess, port_free

DEFAULT_BASE_PORT = 25400
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_ANNOTATION = "kwok.x-k8s.io/node"
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


@dataclass(frozen=True)
class ClusterPorts:
    base: int

    @property
    def etcd(self) -> int:
        return self.base + 1

    @property
    def etcd_peer(self) -> int:
        return self.base + 2

    @property
    def apiserver(self) -> int:
        return self.base + 43

    @property
    def controller_manager(self) -> int:
        return self.base + 44

    @property
    def scheduler(self) -> int:
        return self.base + 45

    @property
    def kwok(self) -> int:
        return self.base + 46


def validate_base_port(base: int) -> None:
    if not 1024 <= base <= 65535 - 50:
        raise EstateError(f"--base-port {base}: choose a port between 1024 and {65535 - 50} (the cluster uses base..base+46)")


@dataclass
class NodeState:
    name: str
    ready: bool
    pods: int


@dataclass
class ProcessState:
    name: str
    pid: int | None
    port: int


class Cluster:
    """One local control plane in ``workdir``."""

    def __init__(self, workdir: Path, base_port: int | None = None):
        self.workdir = workdir.resolve()
        self.state_file = self.workdir / "cluster.json"
        self.pki = ClusterPKI(self.workdir / "pki")
        self.kubeconfig = self.workdir / "kubeconfig"
        self.stage_file = self.workdir / "kwok" / "stages.yaml"
        recorded = self._recorded_base()
        self.ports = ClusterPorts(recorded or DEFAULT_BASE_PORT)
        if base_port is not None:
            validate_base_port(base_port)
            if recorded is not None and recorded != base_port and self.any_running():
                raise EstateError(f"the cluster in {self.workdir} runs on base port {recorded}; `estate cluster down` first")
            self.ports = ClusterPorts(base_port)

    # --- layout -------------------------------------------------------------------------------
    def _recorded_base(self) -> int | None:
        try:
            return int(json.loads(self.state_file.read_text())["base_port"])
        except (OSError, KeyError, ValueError):  # no cluster (yet), or an unusable work dir: `up` says which
            return None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def _kc(self, name: str) -> str:
        return str(self.workdir / "kubeconfigs" / f"{name}.kubeconfig")

    def processes(self, binaries: dict[str, str] | None = None) -> list[ServerProcess]:
        """The five processes (argv filled in when ``binaries`` is given; else only for pid/stop)."""
        b = binaries or {}
        p, pki, w = self.ports, self.pki, self.workdir
        run, logs = w / "run", w / "logs"
        ca = str(pki.crt("ca"))
        tls = lambda name: [str(pki.crt(name)), str(pki.key(name))]  # noqa: E731
        etcd_crt, etcd_key = tls("etcd")
        etcd = [b.get("etcd", "etcd"), "--name", "estate", "--data-dir", str(w / "etcd"),
                "--listen-client-urls", f"https://127.0.0.1:{p.etcd}", "--advertise-client-urls", f"https://127.0.0.1:{p.etcd}",
                "--listen-peer-urls", f"https://127.0.0.1:{p.etcd_peer}",
                "--initial-advertise-peer-urls", f"https://127.0.0.1:{p.etcd_peer}",
                "--initial-cluster", f"estate=https://127.0.0.1:{p.etcd_peer}",
                "--cert-file", etcd_crt, "--key-file", etcd_key, "--client-cert-auth", "--trusted-ca-file", ca,
                "--peer-cert-file", etcd_crt, "--peer-key-file", etcd_key, "--peer-client-cert-auth",
                "--peer-trusted-ca-file", ca, "--listen-metrics-urls", "", "--logger", "zap"]
        api_crt, api_key = tls("apiserver")
        ec_crt, ec_key = tls("apiserver-etcd-client")
        fp_crt, fp_key = tls("front-proxy-client")
        apiserver = [b.get("kube-apiserver", "kube-apiserver"),
                     "--bind-address=127.0.0.1", f"--secure-port={p.apiserver}", "--advertise-address=127.0.0.1",
                     f"--etcd-servers=https://127.0.0.1:{p.etcd}", f"--etcd-cafile={ca}",
                     f"--etcd-certfile={ec_crt}", f"--etcd-keyfile={ec_key}",
                     f"--tls-cert-file={api_crt}", f"--tls-private-key-file={api_key}", f"--client-ca-file={ca}",
                     "--authorization-mode=Node,RBAC", "--allow-privileged=true", "--profiling=false",
                     f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=none",
                     "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                     f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
                     f"--requestheader-client-ca-file={pki.crt('front-proxy-ca')}",
                     "--requestheader-allowed-names=front-proxy-client",
                     "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
                     "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                     f"--proxy-client-cert-file={fp_crt}", f"--proxy-client-key-file={fp_key}"]
        kcm_kc = self._kc("controller-manager")
        controller_manager = [b.get("kube-controller-manager", "kube-controller-manager"),
                              f"--kubeconfig={kcm_kc}", f"--authentication-kubeconfig={kcm_kc}",
                              f"--authorization-kubeconfig={kcm_kc}", "--bind-address=127.0.0.1",
                              f"--secure-port={p.controller_manager}", f"--cert-dir={run / 'controller-manager'}",
                              "--use-service-account-credentials=true", f"--root-ca-file={ca}",
                              f"--service-account-private-key-file={pki.sa_key}",
                              f"--cluster-signing-cert-file={ca}", f"--cluster-signing-key-file={pki.key('ca')}",
                              f"--service-cluster-ip-range={SERVICE_CIDR}", "--leader-elect=false", "--profiling=false"]
        sched_kc = self._kc("scheduler")
        scheduler = [b.get("kube-scheduler", "kube-scheduler"),
                     f"--kubeconfig={sched_kc}", f"--authentication-kubeconfig={sched_kc}",
                     f"--authorization-kubeconfig={sched_kc}", "--bind-address=127.0.0.1",
                     f"--secure-port={p.scheduler}", f"--cert-dir={run / 'scheduler'}", "--leader-elect=false",
                     "--profiling=false"]
        kwok_crt, kwok_key = tls("kwok-server")
        kwok = [b.get("kwok", "kwok"), f"--kubeconfig={self._kc('kwok')}", f"--config={self.stage_file}",
                f"--tls-cert-file={kwok_crt}", f"--tls-private-key-file={kwok_key}",
                "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
                "--node-ip=10.240.0.1", f"--cidr={POD_CIDR}", f"--server-address=127.0.0.1:{p.kwok}",
                f"--node-port={p.kwok}", "--node-lease-duration-seconds=40"]
        ports = {"etcd": [p.etcd, p.etcd_peer], "kube-apiserver": [p.apiserver],
                 "kube-controller-manager": [p.controller_manager], "kube-scheduler": [p.scheduler], "kwok": [p.kwok]}
        argv = {"etcd": etcd, "kube-apiserver": apiserver, "kube-controller-manager": controller_manager,
                "kube-scheduler": scheduler, "kwok": kwok}
        return [ServerProcess(n, argv[n], run, logs, ports[n], env={"HOME": str(w)}) for n in ORDER]

    def any_running(self) -> bool:
        return any(proc.running() for proc in self.processes())

    # --- health -------------------------------------------------------------------------------
    def _ssl(self, verify: bool = True) -> ssl.SSLContext:
        if not verify:  # controller-manager and scheduler serve a self-signed certificate on loopback
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            return ctx
        ctx = ssl.create_default_context(cafile=str(self.pki.crt("ca")))
        ctx.load_cert_chain(str(self.pki.crt("admin")), str(self.pki.key("admin")))
        return ctx

    def _https_ok(self, port: int, path: str, verify: bool = True) -> bool:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", timeout=2, context=self._ssl(verify)) as r:
            return r.status == 200

    def _probe(self, name: str) -> Callable[[], bool]:
        p = self.ports
        return {
            "etcd": lambda: _etcd_health(self),
            "kube-apiserver": lambda: self._https_ok(p.apiserver, "/readyz"),  # includes the bootstrap RBAC roles
            "kube-controller-manager": lambda: self._https_ok(p.controller_manager, "/healthz", verify=False),
            "kube-scheduler": lambda: self._https_ok(p.scheduler, "/healthz", verify=False),
            "kwok": lambda: self._https_ok(p.kwok, "/healthz"),
        }[name]

    # --- commands -----------------------------------------------------------------------------
    def _check_workdir(self) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.workdir.chmod(0o700)
            probe = self.workdir / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise EstateError(f"cluster work dir {self.workdir} is not usable: {exc.strerror or exc}") from None

    def up(self, progress: Progress, storage_classes: Callable[[], dict[str, str]], nodes: int = 4,
           binaries: dict[str, str] | None = None) -> tuple[list[str], float]:
        """Start whatever is not running (idempotent); returns (started, seconds).

        ``storage_classes()`` gives {class: reclaimPolicy} for kwok's volume stages; it is asked only
        when kwok has to start.
        """
        self._check_workdir()
        t0 = time.monotonic()
        procs = self.processes()
        if all(proc.running() for proc in procs):
            return [], 0.0
        for proc in procs:  # a port taken by something else: one line, before building or starting anything
            if not proc.running():
                for port in proc.ports:
                    if not port_free(port):
                        raise EstateError(f"port {port} on 127.0.0.1 is in use by another process (needed by "
                                          f"{proc.name}); stop it or choose another --base-port")
        binaries = binaries or build.ensure_all(progress)
        self.state_file.write_text(json.dumps({"base_port": self.ports.base}) + "\n")
        self.pki.ensure()
        write_kubeconfigs(self.pki, self.server, self.workdir / "kubeconfigs")
        shutil.copyfile(self._kc("admin"), self.kubeconfig)
        self.kubeconfig.chmod(0o600)
        (self.workdir / "etcd").mkdir(mode=0o700, exist_ok=True)
        started = []
        for proc in self.processes(binaries):
            if proc.name == "kwok":
                if stages.write_stage_config(self.stage_file, build.kwok_module_dir(progress) / "kustomize" / "stage",
                                             storage_classes()) and proc.running():
                    progress("kwok's stages changed: restarting kwok")
                    proc.stop()
            if proc.running():
                continue
            progress(f"starting {proc.name}")
            proc.start()
            proc.wait_healthy(self._probe(proc.name), timeout=90)
            started.append(proc.name)
        self.ensure_nodes(nodes, progress)
        return started, time.monotonic() - t0

    def ensure_nodes(self, count: int, progress: Progress, timeout: float = 60) -> None:
        """Create ``count`` kwok nodes (kwok-node-0 …) unless present, and wait until they are Ready."""
        from estate.cluster.client import core, dynamic

        have = {n.metadata.name for n in core(self.kubeconfig).list_node().items}
        nodes = dynamic(self.kubeconfig).resources.get(api_version="v1", kind="Node")
        for i in range(count):
            name = f"kwok-node-{i}"
            if name not in have:
                nodes.create(body=fake_node(name))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(n.ready for n in self.nodes()):
                return
            time.sleep(0.5)
        raise EstateError(f"kwok nodes not Ready within {timeout:.0f}s; see {self.workdir / 'logs' / 'kwok.log'}")

    def nodes(self) -> list[NodeState]:
        from estate.cluster.client import core

        api = core(self.kubeconfig)
        pods: dict[str, int] = {}
        for pod in api.list_pod_for_all_namespaces().items:
            if pod.spec.node_name:
                pods[pod.spec.node_name] = pods.get(pod.spec.node_name, 0) + 1
        out = []
        for n in api.list_node().items:
            ready = any(c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
            out.append(NodeState(n.metadata.name, ready, pods.get(n.metadata.name, 0)))
        return out

    def status(self) -> list[ProcessState]:
        ports = {"etcd": self.ports.etcd, "kube-apiserver": self.ports.apiserver,
                 "kube-controller-manager": self.ports.controller_manager, "kube-scheduler": self.ports.scheduler,
                 "kwok": self.ports.kwok}
        return [ProcessState(proc.name, proc.pid(), ports[proc.name]) for proc in self.processes()]

    def down(self) -> list[str]:
        """Stop every process (kwok first, etcd last); the data stays."""
        return [proc.name for proc in reversed(self.processes()) if proc.stop()]

    def destroy(self) -> None:
        self.down()
        if self.workdir.exists():
            shutil.rmtree(self.workdir)


def _etcd_health(cluster: Cluster) -> bool:
    ctx = ssl.create_default_context(cafile=str(cluster.pki.crt("ca")))
    ctx.load_cert_chain(str(cluster.pki.crt("apiserver-etcd-client")), str(cluster.pki.key("apiserver-etcd-client")))
    with urllib.request.urlopen(f"https://127.0.0.1:{cluster.ports.etcd}/health", timeout=2, context=ctx) as r:
        return json.loads(r.read()).get("health") == "true"


def fake_node(name: str) -> dict:
    """A kwok node: annotated for kwok, no taints, room for a prod stack's pods."""
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                                "kubernetes.io/role": "agent", "type": "kwok"}},
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity,
                   "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake",
                                "kubeProxyVersion": "fake"}},
    }
