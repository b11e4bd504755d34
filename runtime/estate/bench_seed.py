"""`estate bench seed`: seed throughput per store next to the raw ceiling, same machine, same run.

For each scale a fresh seed value is generated and written by `estate seed`'s writers (timed per
store, connection set-up included); then the very same rows/documents/messages/objects go through
the plainest native path:
- PostgreSQL: ``psql -1`` with one ``\\copy … FROM csv`` per table (after deleting the seeded rows);
- MongoDB: one unordered ``insert_many`` per collection into a scratch database whose collections
  carry the same indexes;
- NATS: ``nats bench js pub async --dedup`` (Go client; a Nats-Msg-Id on every message, as the seed
  sends) with the same count and mean size on a scratch R3 file stream; without natscli, a Python
  ``publish_async`` loop;
- MinIO: a sequential ``put_object`` loop (SSE-S3) into a scratch bucket.
ratio = seed rate / raw rate (1.0 means the seeder is as fast as the native path).
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pymongo import IndexModel
from rich.console import Console
from rich.table import Table

from estate.context import load_environment
from estate.crypto import load_key
from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.local import LocalEstate
from estate.local.binaries import postgres_bindir, tool
from estate.migrations import migrate
from estate.seed import generate, seed_estate
from estate.seed.generate import Dataset
from estate.seed.writers import clear_postgres, event_payload, minio_client
from estate.stores.mongo import MongoAdapter
from estate.stores.nats import NatsAdapter, add_stream
from estate.stores.postgres import PostgresAdapter

SCRATCH_DB = "estate_bench_raw"
SCRATCH_BUCKET = "estate-bench-raw"
SCRATCH_STREAM = "ESTATE_BENCH_RAW"


@dataclass
class Raw:
    tool: str
    rate: float


@contextmanager
def bench_environment(env_name: str, workdir: Path | None, base_port: int, out: Console) -> Iterator[tuple[Environment, bytes]]:
    """The environment to measure and its sealing key: ``workdir``'s, or a temporary migrated estate."""
    if workdir is not None:
        yield load_environment(env_name, workdir), load_key(workdir)
        return
    root = Path(tempfile.mkdtemp(prefix="estate-bench-", dir="/tmp"))
    root.chmod(0o755)
    estate = LocalEstate(root, base_port)
    try:
        out.print(f"starting a temporary estate in {root} (ports {base_port}+) and migrating it…")
        estate.up(lambda msg: None)
        environment = Environment.load(estate.layout.environment_file)
        migrate(environment)
        yield environment, load_key(root)
    finally:
        estate.destroy()
        shutil.rmtree(root, ignore_errors=True)


def run_seed_bench(scales: list[int], env_name: str, workdir: Path | None, base_port: int, out: Console) -> None:
    with bench_environment(env_name, workdir, base_port, out) as (environment, key):
        _bench(environment, key, scales, out)


def _bench(env: Environment, key: bytes, scales: list[int], out: Console) -> None:
    table = Table(title="estate seed vs raw ceiling (items/s; ratio = seed / raw)")
    for col in ("scale", "store", "items", "seed /s", "raw /s", "raw path", "ratio"):
        table.add_column(col, justify="right" if col not in ("store", "raw path") else "left")
    quiet = Console(file=io.StringIO())
    for scale in scales:
        ds = generate(int(time.time() * 1000) % 2**31, scale, datetime.now().astimezone())
        report = seed_estate(env, key, ds.seed, scale, dataset=ds, console=quiet)
        raws = {"postgres": _raw_postgres(env, ds), "mongo": _raw_mongo(env, ds),
                "nats": _raw_nats(env, ds), "minio": _raw_minio(env, ds)}
        for kind, run in report.stores.items():
            raw = raws[kind]
            table.add_row(str(scale), kind, str(run.items), f"{run.rate:,.0f}", f"{raw.rate:,.0f}", raw.tool,
                          f"{run.rate / raw.rate:.2f}" if raw.rate else "n/a")
    out.print(table)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- PostgreSQL: psql \copy ------------------------------------------------------------------------

def _csv_value(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    return str(value)


def _raw_postgres(env: Environment, ds: Dataset) -> Raw:
    psql = (postgres_bindir() or Path("/usr/bin")) / "psql"
    if not psql.exists():
        raise EstateError("psql not found: cannot measure the PostgreSQL ceiling")
    with tempfile.TemporaryDirectory(prefix="estate-bench-csv-") as tmp:
        cmds = []
        for name, table in ds.tables.items():
            path = Path(tmp) / f"{name}.csv"
            with path.open("w", newline="") as fh:
                writer = csv.writer(fh)
                for row in table.rows:
                    writer.writerow(["" if v is None else _csv_value(v) for v in row])
            cmds += ["-c", f"\\copy {name} ({', '.join(table.columns)}) FROM '{path}' WITH (FORMAT csv)"]
        with PostgresAdapter(env).connect(Role.app) as conn, conn.cursor() as cur:  # room for the same rows again
            clear_postgres(cur, ds)
        penv = PostgresAdapter(env).libpq_env(Role.app)
        t0 = time.perf_counter()
        proc = subprocess.run([str(psql), "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", *cmds], env=penv,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise EstateError(f"psql \\copy failed: {first_line(Exception(proc.stderr))}")
    return Raw("psql -1 \\copy", sum(len(t.rows) for t in ds.tables.values()) / seconds)


# --- MongoDB: insert_many ------------------------------------------------------------------------

def _raw_mongo(env: Environment, ds: Dataset) -> Raw:
    with MongoAdapter(env).client(Role.app) as client:
        client.drop_database(SCRATCH_DB)
        scratch = client[SCRATCH_DB]
        plans = []
        for name, docs in ds.collections.items():
            db, coll = name.split(".", 1)
            target = scratch[name.replace(".", "__")]
            models = [IndexModel(list(spec["key"]), unique=spec.get("unique", False), sparse=spec.get("sparse", False))
                      for iname, spec in client[db][coll].index_information().items() if iname != "_id_"]
            if models:
                target.create_indexes(models)
            plans.append((target, [dict(d) for d in docs]))
        try:
            seconds = _timed(lambda: [t.insert_many(d, ordered=False) for t, d in plans])
        finally:
            client.drop_database(SCRATCH_DB)
    return Raw("pymongo insert_many", sum(len(d) for _, d in plans) / seconds)


# --- NATS: nats bench ------------------------------------------------------------------------------

def _raw_nats(env: Environment, ds: Dataset) -> Raw:
    count = len(ds.events)
    size = max(1, sum(len(event_payload(e)) for e in ds.events) // max(count, 1))
    natscli = tool("nats")
    nats_store = env.store("nats")
    cred = nats_store.credential(Role.app)
    if natscli:
        replicas = min(3, len(nats_store.endpoints))
        proc = subprocess.run(
            [natscli, "bench", "js", "pub", "async", "benchraw", "--msgs", str(count), "--size", f"{size}B",
             "--batch", "500", "--dedup", "--stream", SCRATCH_STREAM, "--create", "--purge", "--storage", "file",
             "--replicas", str(replicas), "--no-progress",
             "--server", ",".join(env.nats_urls(Role.app, with_credentials=False)), "--tlsca", str(env.ca_file)],
            env={**os.environ, "NATS_USER": cred.username, "NATS_PASSWORD": cred.password.get_secret_value()},
            capture_output=True, text=True)
        _delete_stream(env)
        found = re.search(r"([\d,]+(?:\.\d+)?) msgs/sec", proc.stdout + proc.stderr)
        if proc.returncode == 0 and found:
            return Raw(f"nats bench js pub async --dedup R{replicas}", float(found.group(1).replace(",", "")))
        raise EstateError(f"nats bench failed: {first_line(Exception(proc.stderr or proc.stdout))}")
    return Raw("python publish_async", _python_publish(env, count, size))


def _delete_stream(env: Environment) -> None:
    adapter = NatsAdapter(env)

    async def go() -> None:
        nc = await adapter.connect(Role.app)
        try:
            await nc.jetstream().delete_stream(SCRATCH_STREAM)
        except Exception:
            pass  # not created
        await nc.close()

    adapter.run(go)


def _python_publish(env: Environment, count: int, size: int) -> float:
    import asyncio

    from nats.js.api import StorageType, StreamConfig

    adapter = NatsAdapter(env)

    async def go() -> float:
        nc = await adapter.connect(Role.app)
        js = nc.jetstream()
        await add_stream(js, StreamConfig(name=SCRATCH_STREAM, subjects=["benchraw"], storage=StorageType.FILE,
                                         num_replicas=min(3, len(env.store("nats").endpoints))))
        t0 = time.perf_counter()
        futures = [await js.publish_async("benchraw", b"x" * size) for _ in range(count)]
        await asyncio.gather(*futures)
        seconds = time.perf_counter() - t0
        await js.delete_stream(SCRATCH_STREAM)
        await nc.close()
        return count / seconds

    return adapter.run(go)


# --- MinIO: put_object loop ------------------------------------------------------------------------

def _raw_minio(env: Environment, ds: Dataset) -> Raw:
    from minio.deleteobjects import DeleteObject
    from minio.sse import SseS3

    client, sse = minio_client(env, 1), SseS3()
    if not client.bucket_exists(SCRATCH_BUCKET):
        client.make_bucket(SCRATCH_BUCKET)
    try:
        seconds = _timed(lambda: [client.put_object(SCRATCH_BUCKET, f"{o.bucket}/{o.key}", io.BytesIO(o.data), len(o.data),
                                                    content_type=o.content_type, sse=sse) for o in ds.objects])
    finally:
        names = (DeleteObject(o.object_name) for o in client.list_objects(SCRATCH_BUCKET, recursive=True))
        for _ in client.remove_objects(SCRATCH_BUCKET, names):
            pass
        client.remove_bucket(SCRATCH_BUCKET)
    return Raw("put_object loop", len(ds.objects) / seconds)
