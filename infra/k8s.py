"""Small builders for the Kubernetes objects every component needs, written as manifest-shaped dicts."""
from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Resources, Storage, Volume

PART_OF = "estate"
TLS_MOUNT = "/etc/estate/tls"


def labels(app: str, component: str) -> dict[str, str]:
    """`component` is `store`, `service` or `operations`; policies key on it."""
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/component": component}


def selector(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": PART_OF}


def meta(name: str, namespace: str, app: str, component: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": labels(app, component), **extra}


def resources(r: Resources) -> dict[str, Any]:
    return {"requests": r.requests.model_dump(), "limits": r.limits.model_dump()}


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def claim_template(name: str, volume: Volume, storage: Storage) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": storage.class_name(volume.storage_class),
            "resources": {"requests": {"storage": volume.size}},
        },
    }


def tls_volume(secret: str) -> dict[str, Any]:
    return {"name": "tls", "secret": {"secretName": secret, "defaultMode": 0o440}}


def tls_mount() -> dict[str, Any]:
    return {"name": "tls", "mountPath": TLS_MOUNT, "readOnly": True}


def pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": 999, "fsGroup": 999, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def cluster_service(parent: pulumi.Resource, app: str, namespace: str, ports: dict[str, int],
                 extra_selector: dict[str, str] | None = None, name: str | None = None) -> k8s.core.v1.Service:
    """A ClusterIP Service (stores are never exposed as LoadBalancer or NodePort)."""
    svc_name = name or app
    return k8s.core.v1.Service(
        f"{parent.pulumi_resource_name}-{svc_name}",
        metadata=meta(svc_name, namespace, app, _component(parent)),
        spec={
            "type": "ClusterIP",
            "selector": {**selector(app), **(extra_selector or {})},
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports.items()],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


def headless_service(parent: pulumi.Resource, app: str, namespace: str, ports: dict[str, int]) -> k8s.core.v1.Service:
    """The governing Service of a StatefulSet: stable DNS names `<app>-<n>.<app>-hl`."""
    return k8s.core.v1.Service(
        f"{parent.pulumi_resource_name}-{app}-hl",
        metadata=meta(f"{app}-hl", namespace, app, _component(parent)),
        spec={
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector(app),
            "ports": [{"name": n, "port": p, "targetPort": p} for n, p in ports.items()],
        },
        opts=pulumi.ResourceOptions(parent=parent),
    )


def disruption_budget(parent: pulumi.Resource, app: str, namespace: str) -> k8s.policy.v1.PodDisruptionBudget:
    """At most one member down at a time by voluntary disruption (drains, upgrades)."""
    return k8s.policy.v1.PodDisruptionBudget(
        f"{parent.pulumi_resource_name}-{app}-pdb",
        metadata=meta(app, namespace, app, _component(parent)),
        spec={"maxUnavailable": 1, "selector": {"matchLabels": selector(app)}},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def spread(app: str) -> list[dict[str, Any]]:
    """Members on different nodes where the cluster allows it."""
    return [{
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": selector(app)},
    }]


def dns(host: str, service: str, namespace: str) -> str:
    """The DNS name of one StatefulSet member behind its headless Service."""
    return f"{host}.{service}.{namespace}.svc.cluster.local"


def service_dns(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def _component(parent: pulumi.Resource) -> str:
    return getattr(parent, "component_label", "store")
