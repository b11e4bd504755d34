"""Encryption beyond transit: TLS 1.2+ only, certificates that verify and do not expire soon, objects
encrypted at rest (on the local estate: not even on the raw drives), API-key secrets sealed, and
uploaded backups server-side encrypted."""
from __future__ import annotations

import io
import os
import ssl
import time
import uuid

from cryptography import x509

from checks.registry import Failed, Unsupported, Warned, check
from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.sealed_audit import audit_mongo, audit_postgres, sealing_key
from estate.stores import KINDS
from estate.stores.base import BACKUP_BUCKET, is_scratch
from estate.tls_probe import Target, accepts, handshake

WARN_DAYS_VAR, FAIL_DAYS_VAR = "ESTATE_CERT_WARN_DAYS", "ESTATE_CERT_FAIL_DAYS"
SSE_HEADER = "x-amz-server-side-encryption"
PROBE_PREFIX = "estate-verify/at-rest-"


def capped(lines: list[str], limit: int = 10) -> list[str]:
    return lines[:limit] + ([f"... and {len(lines) - limit} more"] if len(lines) > limit else [])


def targets(a) -> list[Target]:
    """Every TLS listener of a store: its servers and their HTTPS monitoring ports."""
    if not a.store.tls:
        raise Failed([f"{a.kind}: the environment declares no TLS for this store"])
    preamble = {"postgres": "postgres", "nats": "nats"}.get(a.kind, "direct")
    out = [Target(ep.name, ep.host, ep.port, preamble) for ep in a.store.endpoints]
    return out + [Target(f"{ep.name} monitor", ep.host, ep.monitor_port) for ep in a.store.endpoints if ep.monitor_port]


def _tls_versions(a) -> str:
    problems = []
    listeners = targets(a)
    for t in listeners:
        for version in ("TLS 1.0", "TLS 1.1"):
            if accepts(t, version):
                problems.append(f"{a.kind} {t.name} {t.host}:{t.port} {version}: declared refused, live accepted")
        if not accepts(t, "TLS 1.2"):
            problems.append(f"{a.kind} {t.name} {t.host}:{t.port} TLS 1.2: declared accepted, live refused")
    if problems:
        raise Failed(problems)
    return f"{len(listeners)} listener(s): TLS 1.0 and 1.1 refused, TLS 1.2 accepted"


def cert_thresholds() -> tuple[int, int]:
    """(warn, fail) days before expiry, from ESTATE_CERT_WARN_DAYS / ESTATE_CERT_FAIL_DAYS (30 / 7)."""
    try:
        warn, fail = int(os.environ.get(WARN_DAYS_VAR, "30")), int(os.environ.get(FAIL_DAYS_VAR, "7"))
    except ValueError:
        raise EstateError(f"{WARN_DAYS_VAR} and {FAIL_DAYS_VAR} must be whole numbers of days") from None
    if not 0 <= fail <= warn:
        raise EstateError(f"certificate thresholds: need 0 <= fail days ({fail}) <= warn days ({warn})")
    return warn, fail


def set_cert_thresholds(warn: int, fail: int) -> None:
    """Use these (warn, fail) days for the certificate checks of this process (`estate verify` options)."""
    os.environ[WARN_DAYS_VAR], os.environ[FAIL_DAYS_VAR] = str(warn), str(fail)
    cert_thresholds()


def _certificates(a) -> str:
    warn_days, fail_days = cert_thresholds()
    failures, warnings, now = [], [], time.time()

    def judge(what: str, expires: float) -> None:
        days = (expires - now) / 86400
        line = f"{what} expires in {days:.1f} days ({time.strftime('%Y-%m-%d', time.gmtime(expires))})"
        if days < fail_days:
            failures.append(f"{line}: under the {fail_days}-day limit")
        elif days < warn_days:
            warnings.append(f"{line}: within the {warn_days}-day warning window")

    for ca in x509.load_pem_x509_certificates(a.env.ca_file.read_bytes()):
        judge(f"{a.kind} CA {ca.subject.rfc4514_string()}", ca.not_valid_after_utc.timestamp())
    listeners = targets(a)
    for t in listeners:
        try:
            got = handshake(t, ca_file=a.env.ca_file)
        except ssl.SSLCertVerificationError as exc:
            failures.append(f"{a.kind} {t.name} {t.host}:{t.port} certificate: {exc.verify_message}")
            continue
        except (ssl.SSLError, OSError) as exc:
            failures.append(f"{a.kind} {t.name} {t.host}:{t.port} handshake: {first_line(exc)}")
            continue
        judge(f"{a.kind} {t.name} certificate", ssl.cert_time_to_seconds(got.cert["notAfter"]))
    if failures:
        raise Failed(failures + warnings)
    if warnings:
        raise Warned(warnings)
    return (f"{len(listeners)} listener(s): chain to the environment's CA, host name matches, "
            f"no certificate expires within {warn_days} days")


for _kind in KINDS:
    check("TLS 1.2+ only", _kind)(_tls_versions)
    check("certificates verify, match and are not expiring", _kind)(_certificates)


# --- MinIO at rest -----------------------------------------------------------------------------------

def _local_drives(env) -> list:
    """The raw drive directories of the local estate's MinIO; empty for any other environment."""
    if env.workdir is None:
        return []
    from estate.local.minio import DRIVES, LocalMinio
    from estate.local.layout import Layout

    minio = LocalMinio(Layout(env.workdir))
    return [minio.drive(i) for i in range(1, DRIVES + 1)]


def _on_drives(drives: list, bucket: str, key: str, needle: bytes) -> tuple[int, list[str]]:
    """(files of the object found on the drives, those holding ``needle``)."""
    files = [p for d in drives if (d / bucket / key).is_dir() for p in (d / bucket / key).rglob("*") if p.is_file()]
    return len(files), [str(p) for p in files if needle in p.read_bytes()]


@check("buckets encrypt at rest", "minio")
def _buckets_at_rest(a) -> str:
    """Every bucket (but the harness's transient ones and the backups bucket, checked on its own) has default
    SSE, and an object written there without asking for encryption reads back encrypted — on the local
    estate, its files on the raw drives do not hold its plaintext."""
    from minio.error import S3Error

    client, drives, problems = a.client(Role.admin), _local_drives(a.env), []
    backups = a.env.backups.bucket if a.env.backups else BACKUP_BUCKET
    buckets = [b.name for b in client.list_buckets() if not is_scratch(b.name) and b.name != backups]
    for bucket in buckets:
        sse = client.get_bucket_encryption(bucket)
        if not sse or not sse.rule or not sse.rule.sse_algorithm:
            problems.append(f"minio bucket {bucket} default encryption: declared SSE, live none")
        token = f"estate-at-rest-probe-{uuid.uuid4().hex}".encode()
        body, key = token * (262144 // len(token) + 1), f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        written = client.put_object(bucket, key, io.BytesIO(body), len(body))  # no SSE asked: the bucket's default
        try:
            algorithm = client.stat_object(bucket, key).metadata.get(SSE_HEADER)
            if not algorithm:
                problems.append(f"minio object {bucket}/{key} encryption: declared SSE, live none (stored in clear)")
            found, clear = _on_drives(drives, bucket, key, token)
            if drives and not found:
                problems.append(f"minio object {bucket}/{key}: no files found on the local drives to inspect")
            problems += [f"minio drive file {path}: holds the object's plaintext" for path in clear[:2]]
        finally:
            try:
                client.remove_object(bucket, key, version_id=written.version_id)
            except S3Error:
                pass
    if problems:
        raise Failed(problems)
    where = f", none of its plaintext on the {len(drives)} raw drives" if drives else ""
    return f"{len(buckets)} bucket(s) with default SSE; a fresh object in each reads back encrypted{where}"


@check("uploaded backups carry SSE", "minio")
def _backups_encrypted(a) -> str:
    client = a.client(Role.admin)
    bucket = a.env.backups.bucket if a.env.backups else BACKUP_BUCKET
    if not client.bucket_exists(bucket):
        raise Unsupported(f"no backup uploaded yet: bucket {bucket} does not exist (`estate backup --upload`)")
    objects = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    if not objects:
        raise Unsupported(f"no backup uploaded yet: bucket {bucket} is empty (`estate backup --upload`)")
    clear = [name for name in objects if not client.stat_object(bucket, name).metadata.get(SSE_HEADER)]
    if clear:
        raise Failed(capped([f"minio object {bucket}/{name} encryption: declared SSE, live none" for name in clear]))
    return f"{len(objects)} object(s) in {bucket}, every one server-side encrypted"


# --- API-key secrets ---------------------------------------------------------------------------------

def _key(a) -> bytes:
    key = sealing_key(a.env)
    if key is None:
        raise Unsupported("the sealing key is not available here: set ESTATE_SECRET_KEY (or run on the "
                          "local estate's work dir) to open the stored API-key secrets")
    return key


@check("API-key secrets sealed", "postgres")
def _pg_sealed(a) -> str:
    key = _key(a)
    with a.connect(Role.admin) as conn:
        rows, problems = audit_postgres(conn, key)
    if problems:
        raise Failed(capped(problems))
    return f"{rows} exchange_api_keys row(s): every secret sealed, opens with the estate's key, none in clear"


@check("API-key secrets sealed", "mongo")
def _mongo_sealed(a) -> str:
    key = _key(a)
    with a.client(Role.admin) as c:
        docs, problems = audit_mongo(c["bot_core"], key)
    if problems:
        raise Failed(capped(problems))
    return f"{docs} bot_core.api_keys document(s): every secret sealed, opens with the estate's key, none in clear"
