"""The top-level `Estate` component: one namespace holding the four stores, the runtime services and
their operations, wired together. Stacks differ by config only (infra.config.StackConfig)."""
from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.config import StackConfig
from infra.stores.minio import Minio
from infra.stores.mongo import Mongo
from infra.stores.nats import Nats
from infra.network import NetworkPolicies
from infra.operations import Operations, OperationsArgs
from infra.pki import Pki
from infra.stores.postgres import Postgres
from infra.services import CA_FILE, RuntimeServices, RuntimeServicesArgs
from infra.storage import StorageClasses
from infra.stores.base import ClientView, StoreArgs

def durability(cfg: StackConfig) -> dict[str, Any]:
    """What verify must find on this stack's servers (estate.durability.Durability, as plain data)."""
    minio_drives = cfg.minio.replicas * cfg.minio.drives_per_pod
    return {
        "postgres": {"synchronous_standby": cfg.postgres.synchronous and cfg.postgres.replicas > 1,
                     "archive_mode": "on"},
        "nats": {"sync_interval": "always", "stream_replicas": min(3, cfg.nats.replicas), "stream_storage": "file"},
        "mongo": {"write_concern": "majority", "journal": True},
        "minio": {"parity": 2 if minio_drives >= 4 else 0, "drives": minio_drives},
        "notes": {"minio": "erasure coded, SSE-S3 with KMS"},
    }


def backup_policy(cfg: StackConfig) -> dict[str, Any]:
    """The backup schedule and its RPO (estate.environment.BackupPolicy, as plain data)."""
    b = cfg.backups
    return {"schedule": b.schedule, "interval": b.interval_seconds, "margin": b.margin_minutes * 60, "bucket": b.bucket}


class Estate(pulumi.ComponentResource):
    """The whole estate of one stack. `environment` is the harness's environment model as outputs."""

    def __init__(self, name: str, cfg: StackConfig, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Estate", name, None, opts)
        ns = cfg.namespace
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": ns, "labels": {
                "app.kubernetes.io/part-of": kx.PART_OF,
                "estate.dev/ha": "true" if cfg.ha else "false",
                "pod-security.kubernetes.io/enforce": "restricted",
            }},
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        StorageClasses(f"{name}-storage", cfg.storage, retain=cfg.protect, opts=child)
        pki = Pki(f"{name}-pki", ns, protect=cfg.protect, opts=after_ns)
        k8s.core.v1.ConfigMap(f"{name}-ca", metadata=kx.meta("estate-ca", ns, "estate-ca", "operations"),
                              data={"ca.crt": pki.ca_pem}, opts=after_ns)

        def store_args(section: Any) -> StoreArgs:
            return StoreArgs(namespace=ns, cfg=section, ha=cfg.ha, protect=cfg.protect, pki=pki, backups=cfg.backups,
                             storage=cfg.storage, image_pull_policy=cfg.image_pull_policy)

        minio = Minio(f"{name}-minio", store_args(cfg.minio), opts=after_ns)
        stores = [
            Postgres(f"{name}-postgres", store_args(cfg.postgres), minio, opts=after_ns),
            Mongo(f"{name}-mongo", store_args(cfg.mongo), opts=after_ns),
            Nats(f"{name}-nats", store_args(cfg.nats), opts=after_ns),
            minio,
        ]
        views: dict[str, ClientView] = {s.kind: s.view for s in stores}
        self.environment = environment_output(pulumi.get_stack(), ns, pki.ca_pem, views, cfg)
        env_secret = "estate-environment"
        k8s.core.v1.Secret(
            f"{name}-environment",
            metadata=kx.meta(env_secret, ns, "estate-harness", "operations"),
            type="Opaque",
            string_data=pulumi.Output.secret(self.environment.apply(lambda e: {"environment.json": in_cluster_file(e)})),
            opts=after_ns,
        )
        RuntimeServices(f"{name}-services", RuntimeServicesArgs(ns, cfg.services, views, cfg.image_pull_policy),
                        opts=after_ns)
        Operations(f"{name}-operations", OperationsArgs(ns, cfg.backups, cfg.harness, cfg.locust, views, env_secret,
                                                        cfg.image_pull_policy), opts=after_ns)
        NetworkPolicies(f"{name}-network", ns, {s: c.port for s, c in cfg.services.items()}, opts=after_ns)
        self.register_outputs({"environment": self.environment})


def environment_output(stack: str, namespace: str, ca_pem: pulumi.Output[str], views: dict[str, ClientView],
                       cfg: StackConfig) -> pulumi.Output[dict[str, Any]]:
    """The environment model (estate.environment.Environment) as a stack output; passwords stay secret."""
    return pulumi.Output.from_input({
        "name": stack,
        "namespace": namespace,
        "ca_pem": ca_pem,
        "durability": durability(cfg),
        "backups": backup_policy(cfg),
        "stores": {kind: view.output() for kind, view in views.items()},
    })


def in_cluster_file(env: dict[str, Any]) -> str:
    """environment.json as `estate --env in-cluster` reads it, with the CA mounted at CA_FILE."""
    return json.dumps({"name": env["name"], "ca_file": CA_FILE, "durability": env["durability"],
                       "backups": env["backups"], "stores": env["stores"]}, indent=2, sort_keys=True)
