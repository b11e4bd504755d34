"""MinIO: the first seed's buckets — private, default SSE-S3 encryption, versioning, lifecycle expiry.

Expiry comes from a small typed config (BUCKETS); every bucket also expires noncurrent versions so
versioning does not grow storage without bound. ``migrate`` corrects every setting that differs from
``declared(spec)``; ``compare`` names them, reading the same declaration, and also tries anonymous
requests over HTTPS, which a private bucket refuses.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import urllib3
from minio.commonconfig import ENABLED, Filter
from minio.error import MinioAdminException, MinioException, S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, NoncurrentVersionExpiration, Rule
from minio.sseconfig import SSEConfig
from minio.sseconfig import Rule as SSERule
from minio.versioningconfig import VersioningConfig

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.migrations import Drift, Step
from estate.stores import adapter

PRIVATE = "none (private)"


@dataclass(frozen=True)
class BucketSpec:
    name: str
    expire_days: int | None = None      # current objects; None keeps them
    noncurrent_days: int = 30           # superseded versions
    object_lock: bool = False           # set when the bucket is created; cannot change afterwards
    quota_bytes: int | None = None      # hard quota; None for none


BUCKETS = (BucketSpec("custom-bots"), BucketSpec("bot-code"), BucketSpec("backtest-results", expire_days=365),
           BucketSpec("ai-artifacts"), BucketSpec("logs", expire_days=30, noncurrent_days=7))


def lifecycle(spec: BucketSpec) -> LifecycleConfig:
    rules = [Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="noncurrent",
                  noncurrent_version_expiration=NoncurrentVersionExpiration(spec.noncurrent_days))]
    if spec.expire_days:
        rules.append(Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="expire",
                          expiration=Expiration(days=spec.expire_days)))
    return LifecycleConfig(rules)


def declared(spec: BucketSpec) -> dict[str, str]:
    """The bucket's settings as ``live`` reads them back."""
    return {"policy": PRIVATE, "encryption": "SSE-S3", "versioning": ENABLED, "lifecycle": _rules(lifecycle(spec)),
            "object lock": "enabled" if spec.object_lock else "off",
            "quota": f"{spec.quota_bytes} bytes" if spec.quota_bytes else "none"}


def live(client, admin, name: str) -> dict[str, str]:
    """The live settings of bucket ``name`` (which exists), spelled as ``declared`` spells them."""
    try:
        policy = _policy(client.get_bucket_policy(name))
    except S3Error as exc:
        if exc.code != "NoSuchBucketPolicy":
            raise
        policy = PRIVATE
    sse = client.get_bucket_encryption(name)
    algorithm = sse.rule.sse_algorithm if sse and sse.rule else None
    try:
        lock = client.get_object_lock_config(name)
        lock_state = "enabled" + (f" ({lock.mode} {lock.duration})" if lock.mode else "")
    except S3Error as exc:
        if "ObjectLockConfiguration" not in exc.code:
            raise
        lock_state = "off"
    quota = json.loads(admin.bucket_quota_get(name) or "{}").get("quota") or 0
    cfg = client.get_bucket_lifecycle(name)
    return {"policy": policy,
            "encryption": {"AES256": "SSE-S3", "aws:kms": "SSE-KMS", None: "none"}.get(algorithm, algorithm),
            "versioning": client.get_bucket_versioning(name).status, "lifecycle": _rules(cfg) if cfg else "none",
            "object lock": lock_state, "quota": f"{quota} bytes" if quota else "none"}


def _rules(cfg: LifecycleConfig) -> str:
    def one(r: Rule) -> str:
        parts = [f"{r.rule_id} {r.status}", f"prefix {(r.rule_filter and r.rule_filter.prefix) or '(all)'}"]
        if r.expiration and r.expiration.days:
            parts.append(f"current {r.expiration.days}d")
        if r.noncurrent_version_expiration:
            parts.append(f"noncurrent {r.noncurrent_version_expiration.noncurrent_days}d")
        return " ".join(parts)

    return "; ".join(sorted(one(r) for r in cfg.rules))


def _policy(text: str) -> str:
    """A bucket policy in one line: effect, principal and actions of each statement."""
    try:
        statements = json.loads(text).get("Statement", [])
    except ValueError:
        return "unreadable policy"
    return "; ".join(f"{st.get('Effect')} {json.dumps(st.get('Principal'))} {st.get('Action')}" for st in statements)


def _fix(client, admin, spec: BucketSpec, field: str) -> None:
    if field == "policy":
        client.delete_bucket_policy(spec.name)
    elif field == "encryption":
        client.set_bucket_encryption(spec.name, SSEConfig(SSERule.new_sse_s3_rule()))
    elif field == "versioning":
        client.set_bucket_versioning(spec.name, VersioningConfig(ENABLED))
    elif field == "lifecycle":
        client.set_bucket_lifecycle(spec.name, lifecycle(spec))
    elif field == "quota":
        if spec.quota_bytes:
            admin.bucket_quota_set(spec.name, spec.quota_bytes)
        else:
            admin.bucket_quota_clear(spec.name)
    else:  # object lock is chosen when a bucket is created
        raise EstateError(f"minio bucket {spec.name} {field} differs and cannot change on an existing bucket")


def _ensure(client, admin, spec: BucketSpec) -> list[str]:
    """What had to change for ``spec`` (empty when it already held)."""
    changed = []
    if not client.bucket_exists(spec.name):
        client.make_bucket(spec.name, object_lock=spec.object_lock)
        changed.append("created")
    have, want = live(client, admin, spec.name), declared(spec)
    for field in want:
        if have[field] != want[field]:
            _fix(client, admin, spec, field)
            changed.append(field)
    return changed


def _anonymous(a, name: str) -> list[str]:
    """What an unauthenticated HTTPS client may do with bucket ``name`` (nothing, when it is private):
    list it, or get a key (a missing key answers 404 rather than 403 when reads are allowed)."""
    base = f"https://{a.store.endpoint().address}/{name}"
    http = a.http()
    allowed = []
    for what, url in (("list", f"{base}?list-type=2"), ("get", f"{base}/{uuid.uuid4().hex}")):
        status = http.request("GET", url, retries=False).status
        if status != 403:
            allowed.append(f"{what} (HTTP {status})")
    return allowed


def compare(env) -> Drift:
    """Each declared bucket's settings, and anonymous access tried, against the declaration."""
    mc = adapter(env, "minio")
    client, admin = mc.client(Role.admin), mc.admin()
    drift = Drift()
    for spec in BUCKETS:
        where = f"minio bucket {spec.name}"
        try:
            if not client.bucket_exists(spec.name):
                drift.differences.append(f"{where}: declared present, live absent")
                continue
            have = live(client, admin, spec.name)
            anonymous = _anonymous(mc, spec.name)
        except (MinioException, MinioAdminException, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise EstateError(f"minio drift {spec.name}: {first_line(exc)}") from None
        drift.differences += [f"{where} {field}: declared {want}, live {have[field]}"
                              for field, want in declared(spec).items() if have[field] != want]
        if anonymous:
            drift.differences.append(f"{where} anonymous access: declared refused, live allowed: {', '.join(anonymous)}")
    return drift


def migrate(env) -> list[Step]:
    mc = adapter(env, "minio")
    client, admin = mc.client(Role.admin), mc.admin()
    steps = []
    for spec in BUCKETS:
        try:
            changed = _ensure(client, admin, spec)
        except EstateError:
            raise
        except Exception as exc:  # S3Error, urllib3 errors: one line
            raise EstateError(f"minio migrate {spec.name}: {first_line(exc)}") from None
        steps.append(Step("minio", f"bucket {spec.name}", "applied" if changed else "already applied",
                          ", ".join(changed)))
    return steps
