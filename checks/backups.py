"""Backups as stored: the newest complete one in the environment's backup bucket is younger than its
RPO, every file its manifest lists is there with the recorded size and sha256 (no restore needed),
and restoring that stored artifact, store by store, gives back what the manifest promised (its RTO)."""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from minio.error import S3Error

from checks.registry import Failed, Unsupported, check
from estate.backup import MANIFEST, download_latest, newest_complete, restore_store
from estate.environment import BackupPolicy, Environment, Role
from estate.stores import KINDS, adapter
from estate.stores.base import StoreAdapter
from estate.stores.minio import INDEX, MinioAdapter
from estate.stores.postgres import DUMP


def _policy(env: Environment) -> BackupPolicy:
    if env.backups is None:
        raise Failed([f"environment {env.name}: declares no backup schedule (backups: schedule, interval, margin)"])
    if "minio" not in env.stores:
        raise Unsupported(f"environment {env.name} has no object store for its backup bucket")
    return env.backups


def _newest(env: Environment) -> tuple[MinioAdapter, str, dict]:
    """The MinIO adapter, the newest complete backup's name and its manifest."""
    policy = _policy(env)
    a = MinioAdapter(env)
    client = a.client(Role.admin)
    try:
        name = newest_complete(client, policy.bucket)
        resp = client.get_object(policy.bucket, f"{name}/{MANIFEST}")
        try:
            manifest = json.loads(resp.read())
        finally:
            resp.close()
            resp.release_conn()
    except S3Error as exc:
        raise AssertionError(f"backup bucket {policy.bucket}: {exc.code}: {exc.message}") from None
    except ValueError as exc:
        raise Failed([f"{policy.bucket}/{name}/{MANIFEST}: not valid JSON ({exc})"]) from None
    return a, name, manifest


def _age(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


@check("newest stored backup within the RPO", "minio")
def _fresh(a: StoreAdapter) -> str:
    policy = _policy(a.env)
    _, name, manifest = _newest(a.env)
    taken = datetime.fromisoformat(manifest["taken_at"])
    age = (datetime.now(UTC) - taken).total_seconds()
    if age > policy.rpo.total_seconds():
        raise Failed([f"{policy.bucket}/{name}/ backup age: declared at most {_age(policy.rpo.total_seconds())} "
                      f"({policy.schedule} + {_age(policy.margin.total_seconds())} margin), live {_age(age)} "
                      f"(taken {taken:%Y-%m-%d %H:%M:%S}Z)"])
    return f"{policy.bucket}/{name}/ is {_age(age)} old (RPO {_age(policy.rpo.total_seconds())}, {policy.schedule})"


def _unit_files(kind: str, unit: str) -> list[str]:
    """The files of a store's backup that hold ``unit`` (the adapters' backup layouts)."""
    if kind == "postgres":
        return [DUMP]  # one pg_dump archive holds every table
    if kind == "mongo":
        db, coll = unit.split(".", 1)
        return [f"{db}/{coll}.metadata.json"]  # a view has no .bson; every collection has its metadata
    if kind == "nats":
        return [f"{unit}.json", f"{unit}.jsonl"]
    return [f"{unit}/{INDEX}"]


def _sha256(client, bucket: str, key: str) -> str:
    digest, resp = hashlib.sha256(), client.get_object(bucket, key)
    try:
        for chunk in resp.stream(1 << 20):
            digest.update(chunk)
    finally:
        resp.close()
        resp.release_conn()
    return digest.hexdigest()


@check("newest stored backup matches its manifest", "minio")
def _manifest_verifies(a: StoreAdapter) -> str:
    """Every unit the manifest lists has its files stored, each with the recorded size and sha256."""
    bucket = _policy(a.env).bucket
    minio, name, manifest = _newest(a.env)
    client = minio.client(Role.admin)
    differences, files = [], 0
    for kind, taken in manifest["stores"].items():
        recorded = taken.get("files")
        if recorded is None:
            differences.append(f"{bucket}/{name}/{kind}: manifest records no file digests (taken by an older estate)")
            continue
        stored = {o.object_name.removeprefix(f"{name}/{kind}/"): o.size
                  for o in client.list_objects(bucket, prefix=f"{name}/{kind}/", recursive=True)}
        for unit in taken["units"]:
            if lost := [f for f in _unit_files(kind, unit) if f not in recorded]:
                differences.append(f"{bucket}/{name}/{kind} unit {unit}: declared in the manifest, live no {', '.join(lost)}")
        for path, want in sorted(recorded.items()):
            files += 1
            where = f"{bucket}/{name}/{kind}/{path}"
            if path not in stored:
                differences.append(f"{where} size: declared {want['size']}, live absent")
            elif stored[path] != want["size"]:
                differences.append(f"{where} size: declared {want['size']}, live {stored[path]}")
            elif (got := _sha256(client, bucket, f"{name}/{kind}/{path}")) != want["sha256"]:
                differences.append(f"{where} sha256: declared {want['sha256'][:16]}…, live {got[:16]}…")
        differences += [f"{bucket}/{name}/{kind}/{path}: live, not in the manifest" for path in sorted(set(stored) - set(recorded))]
    if differences:
        raise Failed(differences)
    return f"{bucket}/{name}/: {files} files of {len(manifest['stores'])} stores with the recorded size and sha256"


def _restores(a: StoreAdapter) -> str:
    """Download this store's part of the newest stored backup, restore it as a copy, compare: the RTO."""
    bucket = _policy(a.env).bucket
    with tempfile.TemporaryDirectory(prefix=f"estate-rto-{a.kind}-") as tmp:
        t0 = time.perf_counter()
        src = download_latest(a.env, bucket, Path(tmp), [a.kind])
        fetched = time.perf_counter() - t0
        stores = json.loads((src / MANIFEST).read_text())["stores"]
        if a.kind not in stores:
            raise Failed([f"{bucket}/{src.name}/ {a.kind}: declared in the environment, absent from the backup"])
        d = restore_store(a, src / a.kind, stores[a.kind]["units"])
    if d.differences:
        raise Failed([f"{bucket}/{src.name}/ {a.kind} {line}" for line in d.differences])
    return (f"{bucket}/{src.name}/: {len(d.expected)} units, {d.rows} items restored identically; "
            f"RTO {fetched + d.seconds:.1f}s (download {fetched:.1f}s, restore and compare {d.seconds:.1f}s)")


for _kind in KINDS:
    check("newest stored backup restores identically (RTO)", _kind)(_restores)
