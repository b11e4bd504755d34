"""Backups of every store, and the restore drill that proves a backup is good.

`estate backup --out DIR` writes ``DIR/<store>/…`` and ``DIR/manifest.json``: the checksum of every
unit (table, collection, stream, bucket) as the backup holds it. `estate restore --from DIR`
restores each store's backup as a separate copy (named ``estate_restore…``), checksums the copy,
compares it unit by unit with the manifest, and drops the copy unless asked to keep it. Nothing is
ever written over live data: a backup that was never restored is not known to be a backup.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from minio import Minio
from minio.error import MinioException, S3Error
from minio.sse import SseS3
from minio.sseconfig import Rule, SSEConfig

from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.local.files import write_private
from estate.stores import KINDS, adapter
from estate.stores.base import BACKUP_BUCKET, COPY_PREFIX, StoreAdapter
from estate.stores.minio import MinioAdapter

MANIFEST = "manifest.json"


@dataclass
class Drill:
    """One store's restore: the checksums the backup promised and those the restored copy has."""

    store: str
    expected: dict[str, str]
    restored: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def differences(self) -> list[str]:
        units = sorted(set(self.expected) | set(self.restored))
        return [f"{u}: backup {self.expected.get(u, 'absent')}, restored {self.restored.get(u, 'absent')}"
                for u in units if self.expected.get(u) != self.restored.get(u)]

    @property
    def rows(self) -> int:
        """Items restored."""
        return items(self.restored)


def items(units: dict[str, str]) -> int:
    """How many rows, documents, messages or objects the ``count:digest`` checksums of ``units`` cover."""
    return sum(int(d.split(":", 1)[0]) for d in units.values())


def _stores(env: Environment, only: list[str] | None) -> list[str]:
    kinds = [k for k in KINDS if k in env.stores]
    if unknown := sorted(set(only or []) - set(kinds)):
        raise EstateError(f"no such store in {env.name}: {', '.join(unknown)} (have {', '.join(kinds)})")
    return [k for k in kinds if not only or k in only]


def backup(env: Environment, dest: Path, only: list[str] | None = None) -> dict:
    """Back up every store (or ``only`` these) into ``dest``; returns the manifest it wrote."""
    if (dest / MANIFEST).exists():
        raise EstateError(f"{dest} already holds a backup; choose another --out")
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest.chmod(0o700)  # the backup holds the data in clear (MinIO's SSE is at rest on the server)
    manifest = {"environment": env.name, "taken_at": datetime.now(UTC).isoformat(), "stores": {}}
    for kind in _stores(env, only):
        t0 = time.perf_counter()
        units = adapter(env, kind).backup(dest / kind)
        manifest["stores"][kind] = {"units": units, "seconds": round(time.perf_counter() - t0, 3),
                                    "files": file_digests(dest / kind)}
    write_private(dest / MANIFEST, json.dumps(manifest, indent=2))
    return manifest


def file_digests(folder: Path) -> dict[str, dict]:
    """Size and sha256 of every file under ``folder`` (by path relative to it): what a stored backup
    is checked against without restoring it."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        out[str(path.relative_to(folder))] = {"size": path.stat().st_size, "sha256": digest.hexdigest()}
    return out


def read_manifest(src: Path) -> dict:
    try:
        return json.loads((src / MANIFEST).read_text())
    except FileNotFoundError:
        raise EstateError(f"{src} is not a backup: no {MANIFEST}") from None
    except ValueError as exc:
        raise EstateError(f"{src / MANIFEST} is corrupt: {exc}") from None


def restore_store(a: StoreAdapter, src: Path, expected: dict[str, str], copy: str = COPY_PREFIX,
                  keep: bool = False) -> Drill:
    """Restore one store's backup as ``copy`` and checksum it; the copy is dropped unless ``keep``.
    (Every adapter's restore and drop refuse a ``copy`` name that could be live data.)"""
    drill = Drill(a.kind, expected)
    t0 = time.perf_counter()
    try:
        a.restore(src, copy)
        drill.restored = a.checksum(copy)
    finally:
        if not keep:
            a.drop_copy(copy)
    drill.seconds = time.perf_counter() - t0
    return drill


def restore(env: Environment, src: Path, only: list[str] | None = None, copy: str = COPY_PREFIX,
            keep: bool = False) -> list[Drill]:
    manifest = read_manifest(src)
    drills = []
    for kind in _stores(env, only):
        if kind not in manifest["stores"]:
            raise EstateError(f"the backup in {src} has no {kind} (it holds {', '.join(manifest['stores'])})")
        drills.append(restore_store(adapter(env, kind), src / kind, manifest["stores"][kind]["units"], copy, keep))
    return drills


def upload(env: Environment, src: Path, bucket: str = BACKUP_BUCKET) -> str:
    """Copy the backup in ``src`` to ``bucket/<src's name>/`` in the environment's MinIO (SSE-S3);
    the manifest goes last, so a backup without one is incomplete. Returns the prefix."""
    client = MinioAdapter(env).client(Role.admin)
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.name != MANIFEST) + [src / MANIFEST]
    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
            client.set_bucket_encryption(bucket, SSEConfig(Rule.new_sse_s3_rule()))  # as the stacks declare it
        for path in files:
            client.fput_object(bucket, f"{src.name}/{path.relative_to(src)}", str(path), sse=SseS3())
    except (S3Error, MinioException) as exc:
        raise EstateError(f"upload to {bucket}: {first_line(exc)}") from None
    return f"{bucket}/{src.name}/"


def newest_complete(client: Minio, bucket: str) -> str:
    """The name of the newest backup in ``bucket`` that has its manifest (uploaded last)."""
    names = sorted((o.object_name.rstrip("/") for o in client.list_objects(bucket) if o.is_dir), reverse=True)
    name = next((n for n in names if _exists(client, bucket, f"{n}/{MANIFEST}")), None)
    if name is None:
        raise EstateError(f"no complete backup (with a {MANIFEST}) in bucket {bucket}")
    return name


def download_latest(env: Environment, bucket: str, dest: Path, only: list[str] | None = None) -> Path:
    """Fetch the newest complete backup from ``bucket`` into ``dest`` (its manifest and ``only`` these
    stores' parts, else all); returns its path."""
    client = MinioAdapter(env).client(Role.admin)
    try:
        name = newest_complete(client, bucket)
        prefixes = [f"{name}/{MANIFEST}", *(f"{name}/{kind}/" for kind in only)] if only else [f"{name}/"]
        for prefix in prefixes:
            for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
                client.fget_object(bucket, obj.object_name, str(dest / obj.object_name))
    except S3Error as exc:
        raise EstateError(f"download from {bucket}: {exc.code}: {exc.message}") from None
    (dest / name).chmod(0o700)
    return dest / name


def _exists(client, bucket: str, key: str) -> bool:
    try:
        client.stat_object(bucket, key)
        return True
    except S3Error:
        return False


def drill(a: StoreAdapter) -> Drill:
    """Back up one store into a temporary directory, restore it as a copy, compare, clean up."""
    tmp = Path(tempfile.mkdtemp(prefix=f"estate-drill-{a.kind}-"))
    try:
        return restore_store(a, tmp, a.backup(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
