"""What the four store components share: their typed args and the description a client needs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.config import Backups, Storage
from infra.credentials import StoreCredentials
from infra.pki import Pki


@dataclass(frozen=True)
class StoreArgs:
    """Inputs every store component takes; `cfg` is that store's section of the stack config."""

    namespace: str
    cfg: Any
    ha: bool
    protect: bool
    pki: Pki
    backups: Backups
    storage: Storage
    image_pull_policy: str = "IfNotPresent"


@dataclass
class ClientView:
    """How clients reach a store: the environment model's endpoints, credentials and capabilities."""

    kind: str
    server: str
    port: int
    endpoints: list[dict[str, Any]]
    credentials: StoreCredentials
    database: str = ""
    capabilities: dict[str, bool] = field(default_factory=dict)

    def output(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "server": self.server,
            "endpoints": self.endpoints,
            "database": self.database,
            "tls": True,
            "capabilities": self.capabilities,
            "credentials_secret": self.credentials.secret_name,
            "credentials": {
                role: {"username": user, "password": pulumi.Output.secret(self.credentials.passwords[role])}
                for role, user in self.credentials.usernames.items() if role in ("admin", "app", "readonly")
            },
        }


class Store(pulumi.ComponentResource):
    """Base of the store components: names, DNS, credentials, TLS and resource options."""

    app: str
    kind: str
    component_label = "store"
    extra_roles: tuple[str, ...] = ()

    def __init__(self, type_name: str, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(type_name, name, None, opts)
        self.args = args
        self.ns = args.namespace
        self.credentials = StoreCredentials(f"{name}-credentials", self.app, self.ns, self.extra_roles,
                                            protect=args.protect, opts=pulumi.ResourceOptions(parent=self))

    def member_hosts(self, count: int) -> list[str]:
        return [kx.dns(f"{self.app}-{i}", f"{self.app}-hl", self.ns) for i in range(count)]

    def tls_secret(self, extra_names: list[str] | None = None) -> str:
        names = [*(extra_names or []), f"{self.app}.{self.ns}.svc.cluster.local", f"*.{self.app}-hl.{self.ns}.svc.cluster.local",
                 f"{self.app}.{self.ns}.svc", self.app]
        return self.args.pki.server_secret(self.app, names)

    def child(self, stateful: bool = False) -> pulumi.ResourceOptions:
        """Children of this store; stateful ones are protected where the stack asks (prod)."""
        return pulumi.ResourceOptions(parent=self, protect=stateful and self.args.protect)

    def claim(self, name: str) -> dict[str, Any]:
        """A volume claim template of this store's volume config, on the stack's StorageClass."""
        return kx.claim_template(name, self.args.cfg.volume, self.args.storage)

    def container(self, name: str, **fields: Any) -> dict[str, Any]:
        """A container of this store's image with the stack's requests/limits and a locked-down context."""
        cfg = self.args.cfg
        return {"name": name, "image": cfg.image, "imagePullPolicy": self.args.image_pull_policy, **fields,
                "resources": kx.resources(cfg.resources), "securityContext": kx.container_security()}

    def statefulset(self, containers: list[dict[str, Any]], volumes: list[dict[str, Any]],
                    claims: list[dict[str, Any]], init_containers: list[dict[str, Any]] | None = None,
                    pod_labels: dict[str, str] | None = None, ordered: bool = False,
                    depends_on: list[pulumi.Resource] | None = None) -> k8s.apps.v1.StatefulSet:
        """The store's members: stable names behind `<app>-hl`, spread over nodes, protected in prod."""
        pod: dict[str, Any] = {"securityContext": kx.pod_security(), "topologySpreadConstraints": kx.spread(self.app)}
        if init_containers:
            pod["initContainers"] = init_containers
        pod.update(containers=containers, volumes=volumes)
        return k8s.apps.v1.StatefulSet(
            f"{self.pulumi_resource_name}-statefulset",
            metadata=kx.meta(self.app, self.ns, self.app, "store"),
            spec={
                "serviceName": f"{self.app}-hl",
                "replicas": self.args.cfg.replicas,
                "podManagementPolicy": "OrderedReady" if ordered else "Parallel",
                "selector": {"matchLabels": kx.selector(self.app)},
                "template": {"metadata": {"labels": {**kx.labels(self.app, "store"), **(pod_labels or {})}}, "spec": pod},
                "volumeClaimTemplates": claims,
            },
            opts=self.child(stateful=True).merge(pulumi.ResourceOptions(depends_on=depends_on or [])),
        )

    def setup_job(self, job: str, container: dict[str, Any], volumes: list[dict[str, Any]]) -> None:
        """A Job that converges the running store to its declared setup (users, buckets, replica set)."""
        k8s.batch.v1.Job(
            f"{self.pulumi_resource_name}-{job}-job",
            metadata=kx.meta(f"{self.app}-{job}", self.ns, self.app, "store"),
            spec={"backoffLimit": 20, "template": {
                "metadata": {"labels": {**kx.labels(f"{self.app}-{job}", "operations"), f"estate.dev/client-{self.app}": "true"}},
                "spec": {"restartPolicy": "OnFailure", "securityContext": kx.pod_security(), "automountServiceAccountToken": False,
                         "containers": [container], "volumes": volumes},
            }},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def finish(self, view: ClientView) -> None:
        self.view = view
        if self.args.ha:
            kx.disruption_budget(self, self.app, self.ns)
        self.register_outputs({"kind": view.kind, "endpoints": view.endpoints})
