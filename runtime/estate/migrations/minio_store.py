"""MinIO: the first seed's buckets — private, default SSE-S3 encryption, versioning, lifecycle expiry.

Expiry comes from a small typed config (BUCKETS); every bucket also expires noncurrent versions so
versioning does not grow storage without bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, NoncurrentVersionExpiration, Rule
from minio.sseconfig import SSEConfig
from minio.sseconfig import Rule as SSERule
from minio.versioningconfig import VersioningConfig

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.migrations import Step
from estate.stores import adapter


@dataclass(frozen=True)
class BucketSpec:
    name: str
    expire_days: int | None = None      # current objects; None keeps them
    noncurrent_days: int = 30           # superseded versions


BUCKETS = (BucketSpec("custom-bots"), BucketSpec("bot-code"), BucketSpec("backtest-results", expire_days=365),
           BucketSpec("ai-artifacts"), BucketSpec("logs", expire_days=30, noncurrent_days=7))


def lifecycle(spec: BucketSpec) -> LifecycleConfig:
    rules = [Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="noncurrent",
                  noncurrent_version_expiration=NoncurrentVersionExpiration(spec.noncurrent_days))]
    if spec.expire_days:
        rules.append(Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="expire",
                          expiration=Expiration(days=spec.expire_days)))
    return LifecycleConfig(rules)


def _ensure(client, spec: BucketSpec) -> list[str]:
    """What had to change for ``spec`` (empty when it already held)."""
    changed = []
    if not client.bucket_exists(spec.name):
        client.make_bucket(spec.name)
        changed.append("created")
    try:
        if client.get_bucket_policy(spec.name):
            client.delete_bucket_policy(spec.name)
            changed.append("public policy removed")
    except S3Error as exc:
        if exc.code != "NoSuchBucketPolicy":
            raise
    sse = client.get_bucket_encryption(spec.name)
    if not sse or not sse.rule or sse.rule.sse_algorithm != "AES256":
        client.set_bucket_encryption(spec.name, SSEConfig(SSERule.new_sse_s3_rule()))
        changed.append("SSE-S3")
    if client.get_bucket_versioning(spec.name).status != ENABLED:
        client.set_bucket_versioning(spec.name, VersioningConfig(ENABLED))
        changed.append("versioning")
    want = lifecycle(spec)
    have = client.get_bucket_lifecycle(spec.name)
    if have is None or _rules(have) != _rules(want):
        client.set_bucket_lifecycle(spec.name, want)
        changed.append("lifecycle")
    return changed


def _rules(cfg: LifecycleConfig) -> set:
    return {(r.rule_id, r.expiration and r.expiration.days,
             r.noncurrent_version_expiration and r.noncurrent_version_expiration.noncurrent_days) for r in cfg.rules}


def migrate(env) -> list[Step]:
    client = adapter(env, "minio").client(Role.admin)
    steps = []
    for spec in BUCKETS:
        try:
            changed = _ensure(client, spec)
        except Exception as exc:  # S3Error, urllib3 errors: one line
            raise EstateError(f"minio migrate {spec.name}: {first_line(exc)}") from None
        steps.append(Step("minio", f"bucket {spec.name}", "applied" if changed else "already applied",
                          ", ".join(changed)))
    return steps
