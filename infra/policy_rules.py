"""The estate's policies as plain functions, written once and used twice: by the CrossGuard pack in
`policies/` (`pulumi preview --policy-pack policies`) and by the offline tests over a mock render.

A rule sees resources as the engine does: a type token, inputs with wire (camelCase) names, and the
types of the resources each input was computed from (how a generated secret is told from a literal).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

STORES = ("postgres", "mongo", "nats", "minio")
HA_MIN_REPLICAS = {"postgres": 3, "mongo": 3, "nats": 3, "minio": 4}
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
SENSITIVE_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY|API_KEY|KEYFILE")
GENERATORS = ("random:", "tls:")


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: Mapping[str, Any]
    dependency_types: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.props.get("kind", ""))

    @property
    def meta(self) -> Mapping[str, Any]:
        return self.props.get("metadata") or {}

    @property
    def labels(self) -> Mapping[str, str]:
        return self.meta.get("labels") or {}

    @property
    def ident(self) -> str:
        return f"{self.kind or self.type} {self.meta.get('name', self.name)}"


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[..., list[str]]
    stack: bool = False  # True: check(list[Resource]); False: check(Resource)


def to_plain(value: Any) -> Any:
    """Engine values to plain dicts and lists. The engine hands policies read-only proxies
    (`pulumi_policy.proxy`: Mappings and Sequences, not dicts and lists), so test by ABC, not by type."""
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [to_plain(v) for v in value]
    return value


def pod_spec(res: Resource) -> Mapping[str, Any] | None:
    spec = res.props.get("spec") or {}
    if res.kind == "Pod":
        return spec
    if res.kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) if res.kind in WORKLOADS else None


def containers(res: Resource) -> list[Mapping[str, Any]]:
    spec = pod_spec(res) or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def store_of(res: Resource) -> str | None:
    name = res.labels.get("app.kubernetes.io/name")
    return name if res.labels.get("app.kubernetes.io/component") == "store" and name in STORES else None


# --- resource rules -------------------------------------------------------------------------------

def container_limits(res: Resource) -> list[str]:
    out = []
    for c in containers(res):
        r = c.get("resources") or {}
        for part in ("requests", "limits"):
            missing = [q for q in ("cpu", "memory") if not (r.get(part) or {}).get(q)]
            if missing:
                out.append(f"{res.ident}: container {c.get('name')} has no {part} for {', '.join(missing)}")
    return out


def no_exposed_stores(res: Resource) -> list[str]:
    kind = (res.props.get("spec") or {}).get("type", "ClusterIP")
    if res.kind == "Service" and store_of(res) and kind in ("LoadBalancer", "NodePort"):
        return [f"{res.ident}: a store Service must not be of type {kind}"]
    return []


def no_literal_env_secrets(res: Resource) -> list[str]:
    return [
        f"{res.ident}: env {e['name']} in container {c.get('name')} is a literal; take it from a Secret (valueFrom)"
        for c in containers(res) for e in (c.get("env") or [])
        if SENSITIVE_ENV.search(str(e.get("name", "")).upper()) and "value" in e and "valueFrom" not in e
    ]


# --- stack rules ----------------------------------------------------------------------------------

def encrypted_volumes(resources: list[Resource]) -> list[str]:
    encrypted = {r.meta.get("name") for r in resources if r.kind == "StorageClass"
                 and str((r.props.get("parameters") or {}).get("encrypted", "")).lower() == "true"}
    out = []
    for r in resources:
        claims: list[tuple[str, Any]] = []
        if r.kind == "PersistentVolumeClaim":
            claims.append((r.ident, (r.props.get("spec") or {}).get("storageClassName")))
        elif r.kind == "StatefulSet":
            for t in (r.props.get("spec") or {}).get("volumeClaimTemplates") or []:
                claims.append((f"{r.ident} claim {t.get('metadata', {}).get('name')}", (t.get("spec") or {}).get("storageClassName")))
        elif r.kind == "Cluster":
            claims.append((r.ident, ((r.props.get("spec") or {}).get("storage") or {}).get("storageClass")))
        out += [f"{who}: StorageClass {cls!r} is not an encrypted StorageClass of this stack"
                for who, cls in claims if cls not in encrypted]
    return out


def store_tls(resources: list[Resource]) -> list[str]:
    tls_secrets = {r.meta.get("name") for r in resources if r.kind == "Secret" and r.props.get("type") == "kubernetes.io/tls"}
    config = "\n".join(str(v) for r in resources if r.kind == "ConfigMap" for v in (r.props.get("data") or {}).values())
    markers = {
        "postgres": lambda args: "ssl = on" in config and "\nhost " not in config,
        "mongo": lambda args: "requireTLS" in args,
        "nats": lambda args: "tls {" in config,
        "minio": lambda args: "--certs-dir" in args,
    }
    out = []
    for store in STORES:
        workloads = [r for r in resources if store_of(r) and store_of(r) == store and r.kind in ("StatefulSet", "Cluster")]
        if not workloads:
            continue
        for w in workloads:
            if w.kind == "Cluster":
                certs = (w.props.get("spec") or {}).get("certificates") or {}
                if certs.get("serverTLSSecret") not in tls_secrets:
                    out.append(f"{w.ident}: serverTLSSecret is not a kubernetes.io/tls Secret of this stack")
                continue
            volumes = (pod_spec(w) or {}).get("volumes") or []
            mounted = {(v.get("secret") or {}).get("secretName") for v in volumes}
            args = " ".join(str(a) for c in containers(w) for a in (c.get("args") or []) + (c.get("command") or []))
            if not mounted & tls_secrets:
                out.append(f"{w.ident}: mounts no kubernetes.io/tls Secret")
            elif not markers[store](args):
                out.append(f"{w.ident}: the server is not configured to require TLS")
    return out


def ha_stores(resources: list[Resource]) -> list[str]:
    ha = any(r.kind == "Namespace" and r.labels.get("estate.dev/ha") == "true" for r in resources)
    if not ha:
        return []
    pdb_apps = {((r.props.get("spec") or {}).get("selector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                for r in resources if r.kind == "PodDisruptionBudget"}
    out = []
    for store in STORES:
        workloads = [r for r in resources if store_of(r) == store and r.kind in ("StatefulSet", "Cluster")]
        if not workloads:
            out.append(f"{store}: no workload declared")
        for w in workloads:
            spec = w.props.get("spec") or {}
            replicas = int(spec.get("instances" if w.kind == "Cluster" else "replicas") or 1)
            if replicas < HA_MIN_REPLICAS[store]:
                out.append(f"{w.ident}: {replicas} replicas; an HA stack needs at least {HA_MIN_REPLICAS[store]}")
            has_pdb = spec.get("enablePDB", True) if w.kind == "Cluster" else store in pdb_apps
            if not has_pdb:
                out.append(f"{w.ident}: no PodDisruptionBudget in an HA stack")
    return out


def generated_secrets(resources: list[Resource]) -> list[str]:
    out = []
    for r in resources:
        if r.kind != "Secret":
            continue
        for prop in ("stringData", "data"):
            if r.props.get(prop) and not any(t.startswith(GENERATORS) for t in r.dependency_types.get(prop, ())):
                out.append(f"{r.ident}: {prop} is not computed from generated values (pulumi_random / pulumi_tls); "
                           "a literal secret in the program or config?")
    return out


RULES: tuple[Rule, ...] = (
    Rule("container-limits", "Every container has CPU and memory requests and limits.", container_limits),
    Rule("no-exposed-stores", "No store Service is of type LoadBalancer or NodePort.", no_exposed_stores),
    Rule("no-literal-env-secrets", "No env var carries a literal password, key or token.", no_literal_env_secrets),
    Rule("encrypted-volumes", "Every volume claim uses an encrypted StorageClass.", encrypted_volumes, stack=True),
    Rule("store-tls", "Every store serves TLS with a certificate from the stack's CA.", store_tls, stack=True),
    Rule("ha-stores", "HA stacks: >=3 replicas per store (MinIO >=4) and a PodDisruptionBudget each.", ha_stores, stack=True),
    Rule("generated-secrets", "No Secret carries a literal: values come from pulumi_random or pulumi_tls.", generated_secrets,
         stack=True),
)


def violations(resources: Iterable[Resource]) -> list[tuple[str, str]]:
    """Every (rule, message) the resources break."""
    resources = list(resources)
    out: list[tuple[str, str]] = []
    for rule in RULES:
        if rule.stack:
            out += [(rule.name, m) for m in rule.check(resources)]
        else:
            out += [(rule.name, m) for r in resources for m in rule.check(r)]
    return out
