"""The runtime services (the API, the AI assistant, bot runner, backtest runner, bot scheduler, security
analysis): a Deployment and a ClusterIP Service each, with store credentials injected from Secrets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.config import ServiceConfig
from infra.stores.base import ClientView

# Which stores each service talks to (the seed's architecture); NetworkPolicies allow these flows only.
NEEDS: dict[str, tuple[str, ...]] = {
    "api": ("mongo", "nats", "minio"),
    "ai-assistant": ("postgres", "minio"),
    "bot-runner": ("mongo", "nats", "minio"),
    "backtest-runner": ("mongo", "nats", "minio"),
    "bot-scheduler": ("mongo", "nats"),
    "security-analysis": ("nats", "minio"),
}
CA_DIR = "/etc/estate/ca"
CA_FILE = f"{CA_DIR}/ca.crt"


def store_env(view: ClientView, role: str = "app") -> list[dict[str, Any]]:
    """Connection settings for one store; the password always comes from the store's Secret."""
    sec = view.credentials.secret_name
    hosts = ",".join(f"{e['host']}:{e['port']}" for e in view.endpoints)
    primary = view.endpoints[0]
    if view.kind == "postgres":
        return [
            {"name": "DATABASE_HOST", "value": primary["host"]},
            {"name": "DATABASE_PORT", "value": str(primary["port"])},
            {"name": "DATABASE_NAME", "value": view.database},
            kx.secret_env("DATABASE_USER", sec, f"{role}-username"),
            kx.secret_env("DATABASE_PASSWORD", sec, f"{role}-password"),
            {"name": "PGSSLMODE", "value": "verify-full"},
            {"name": "PGSSLROOTCERT", "value": CA_FILE},
        ]
    if view.kind == "mongo":
        return [
            {"name": "MONGODB_HOSTS", "value": hosts},
            {"name": "MONGODB_REPLICA_SET", "value": "rs0"},
            {"name": "MONGODB_WRITE_CONCERN", "value": "majority"},
            kx.secret_env("MONGODB_USER", sec, f"{role}-username"),
            kx.secret_env("MONGODB_PASSWORD", sec, f"{role}-password"),
            {"name": "MONGODB_TLS_CA_FILE", "value": CA_FILE},
        ]
    if view.kind == "nats":
        return [
            {"name": "NATS_URL", "value": ",".join(f"tls://{e['host']}:{e['port']}" for e in view.endpoints)},
            kx.secret_env("NATS_USER", sec, f"{role}-username"),
            kx.secret_env("NATS_PASSWORD", sec, f"{role}-password"),
            {"name": "NATS_CA", "value": CA_FILE},
        ]
    return [
        {"name": "MINIO_ENDPOINT", "value": f"{primary['host']}:{primary['port']}"},
        {"name": "MINIO_SECURE", "value": "true"},
        kx.secret_env("MINIO_ACCESS_KEY", sec, f"{role}-username"),
        kx.secret_env("MINIO_SECRET_KEY", sec, f"{role}-password"),
        {"name": "SSL_CERT_FILE", "value": CA_FILE},
    ]


def ca_volume() -> tuple[dict[str, Any], dict[str, Any]]:
    """The estate CA (public) as a volume and its mount."""
    return {"name": "ca", "configMap": {"name": "estate-ca"}}, {"name": "ca", "mountPath": CA_DIR, "readOnly": True}


def client_labels(stores: tuple[str, ...]) -> dict[str, str]:
    return {f"estate.dev/client-{s}": "true" for s in stores}


@dataclass(frozen=True)
class RuntimeServicesArgs:
    namespace: str
    services: dict[str, ServiceConfig]
    stores: dict[str, ClientView]
    image_pull_policy: str = "IfNotPresent"


class RuntimeServices(pulumi.ComponentResource):
    """Every runtime service of the platform, reaching only the stores it needs."""

    component_label = "service"

    def __init__(self, name: str, args: RuntimeServicesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:RuntimeServices", name, None, opts)
        ns = args.namespace
        volume, mount = ca_volume()
        for svc, cfg in args.services.items():
            needs = NEEDS[svc]
            env = [{"name": "SERVICE_NAME", "value": svc}, {"name": "PORT", "value": str(cfg.port)}]
            for store in needs:
                env += store_env(args.stores[store])
            k8s.apps.v1.Deployment(
                f"{name}-{svc}",
                metadata=kx.meta(svc, ns, svc, "service"),
                spec={
                    "replicas": cfg.replicas,
                    "selector": {"matchLabels": kx.selector(svc)},
                    "template": {
                        "metadata": {"labels": {**kx.labels(svc, "service"), **client_labels(needs)}},
                        "spec": {
                            "securityContext": kx.pod_security(),
                            "automountServiceAccountToken": False,
                            "containers": [{
                                "name": svc,
                                "image": cfg.image,
                                "imagePullPolicy": args.image_pull_policy,
                                "env": env,
                                "ports": [{"name": "http", "containerPort": cfg.port}],
                                "resources": kx.resources(cfg.resources),
                                "securityContext": {**kx.container_security(), "readOnlyRootFilesystem": True},
                                "volumeMounts": [mount],
                            }],
                            "volumes": [volume],
                        },
                    },
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            kx.cluster_service(self, svc, ns, {"http": cfg.port})
        self.register_outputs({"services": list(args.services)})
