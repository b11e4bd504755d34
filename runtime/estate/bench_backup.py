"""`estate bench backup`: `estate backup` per store next to the native tool, on the same data in the
same run, and the time of the restore drill that proves each backup.

Native paths: PostgreSQL `pg_dump -Fc` alone (estate's backup is pg_dump plus checksums in the same
snapshot); NATS `nats stream backup` (a server-side snapshot); MinIO a sequential `get_object` loop;
MongoDB a read-only `find_raw_batches` over every collection (no mongodump ships in any registry
here, so this is a ceiling, not a tool). ratio = estate rate / native rate.
"""
from __future__ import annotations

import io
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.table import Table

from estate.backup import items, restore_store
from estate.bench_seed import bench_environment
from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.local.binaries import tool
from estate.seed import seed_estate
from estate.stores import KINDS, adapter
from estate.stores.base import is_scratch
from estate.stores.mongo import SYSTEM_DBS
from estate.stores.postgres import run_pg_tool


def run_backup_bench(scale: int, env_name: str, workdir: Path | None, base_port: int, out: Console) -> None:
    with bench_environment(env_name, workdir, base_port, out) as (env, key):
        if workdir is None:
            out.print(f"seeding it at scale {scale}…")
            seed_estate(env, key, 1, scale, console=Console(file=io.StringIO()))
        table = Table(title="estate backup vs native (items/s; ratio = estate / native)")
        for col in ("store", "units", "items", "estate backup /s", "native /s", "native path", "ratio", "restore drill s"):
            table.add_column(col, justify="left" if col in ("store", "native path") else "right")
        with tempfile.TemporaryDirectory(prefix="estate-bench-backup-") as tmp:
            for kind in KINDS:
                a = adapter(env, kind)
                t0 = time.perf_counter()
                units = a.backup(Path(tmp) / kind)
                seconds = time.perf_counter() - t0
                count = items(units)
                path, native = NATIVE[kind](env, Path(tmp) / f"native-{kind}", list(units))
                drill = restore_store(a, Path(tmp) / kind, units)
                if drill.differences:
                    raise EstateError(f"{kind}: the restored copy differs from the backup: {drill.differences[0]}")
                rate, raw = count / seconds, count / native
                table.add_row(kind, str(len(units)), str(count), f"{rate:,.0f}", f"{raw:,.0f}", path,
                              f"{rate / raw:.2f}", f"{drill.seconds:.2f}")
        out.print(table)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _postgres(env: Environment, dest: Path, units: list[str]) -> tuple[str, float]:
    pg = adapter(env, "postgres")
    dest.mkdir(parents=True)
    return "pg_dump -Fc", _timed(lambda: run_pg_tool("pg_dump", ["--format=custom", "--file", str(dest / "dump")],
                                                     pg.libpq_env(Role.admin)))


def _mongo(env: Environment, dest: Path, units: list[str]) -> tuple[str, float]:
    def read_all() -> None:
        with adapter(env, "mongo").client(Role.admin) as client:
            for db in client.list_database_names():
                if db in SYSTEM_DBS or is_scratch(db):
                    continue
                for coll in client[db].list_collection_names():
                    if not coll.startswith("system."):
                        for _ in client[db][coll].find_raw_batches():
                            pass

    return "find_raw_batches (read only)", _timed(read_all)


def _nats(env: Environment, dest: Path, streams: list[str]) -> tuple[str, float]:
    natscli = tool("nats")
    if not natscli:
        raise EstateError("natscli not found: run `estate bootstrap`")
    store = env.store("nats")
    cred = store.credential(Role.app)
    penv = {**os.environ, "NATS_USER": cred.username, "NATS_PASSWORD": cred.password.get_secret_value()}

    def backup_all() -> None:
        for stream in streams:
            proc = subprocess.run([natscli, "stream", "backup", stream, str(dest / stream), "--no-progress",
                                   "--server", ",".join(env.nats_urls(Role.app, with_credentials=False)),
                                   "--tlsca", str(env.ca_file)], env=penv, capture_output=True, text=True)
            if proc.returncode != 0:
                raise EstateError(f"nats stream backup {stream}: {first_line(Exception(proc.stderr or proc.stdout))}")

    return "nats stream backup", _timed(backup_all)


def _minio(env: Environment, dest: Path, units: list[str]) -> tuple[str, float]:
    client = adapter(env, "minio").client(Role.admin)

    def get_all() -> None:
        for bucket in client.list_buckets():
            if is_scratch(bucket.name):
                continue
            for item in client.list_objects(bucket.name, recursive=True):
                resp = client.get_object(bucket.name, item.object_name)
                resp.read()
                resp.close()
                resp.release_conn()

    return "get_object loop", _timed(get_all)


NATIVE = {"postgres": _postgres, "mongo": _mongo, "nats": _nats, "minio": _minio}
