"""`estate bench load`: `estate load`'s per-store operations by Locust next to the native ceiling.

For each store and each concurrency N the Locust campaign (`estate.load.campaign`, the very users of
`estate load`) runs first — a Locust master and ``--workers`` worker processes (default: one per core),
started as `estate load --profile … --workers` starts them — then the same operations, same mix, same N,
on the same estate:
- PostgreSQL: ``pgbench -M prepared -c N -j 2 -T s`` with two script files, the Locust user's INSERT
  (weight 1) and SELECT by key (weight 3), over TLS with the app role (credentials in the child's env);
  and the same statements by psycopg on N threads without Locust (a row of its own: the Python
  client's ceiling, which tells Locust's cost apart from the client's);
- NATS: ``nats bench js pub sync`` with N clients, 256 B messages, on the Locust user's own stream
  (same replicas, file storage), as many messages as Locust published in the same time — each publish
  waits for its ack, as the Locust user's do, so the ratio is against it — and ``nats bench js pub
  async`` (acks awaited per batch: the broker's ceiling), printed beside it with its own ratio;
- MongoDB: N threads of a raw pymongo loop, 1 ``insert_one`` : 3 ``find_one`` by ``_id``;
- MinIO: N threads of a raw minio-py loop, 1 put : 3 get of 4 KiB (MinIO ``warp`` is not built here:
  it is not in the cache and the bench does not build it).
ratio = Locust ops/s ÷ native ops/s; the goal is ≥ 0.8 at saturation (the highest N), judged against
the first native tool of a store (the one doing what the Locust user does).

Placement (``split``, the default on the local estate): the servers run on half of the CPUs and every
load generator, Locust and native alike, on the other half (`estate.local.placement`), as when Locust
runs on pods of its own; ``shared`` lets them compete for the same CPUs.
"""
from __future__ import annotations

import io
import os
import random
import re
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from estate import load as lt
from estate.bench_seed import bench_environment
from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.local import LocalEstate
from estate.local.binaries import postgres_bindir, tool
from estate.local.files import write_private
from estate.local.placement import Placement, placed, split
from estate.stores import KINDS, adapter

GOAL = 0.8
OPERATIONS = {"postgres": "insert + select by key (1:3)", "mongo": "insert_one + find_one (1:3)",
              "nats": "JetStream publish (acked)", "minio": "put + get 4 KiB (1:3)"}
MAX_OPS = 2_000_000  # per thread: the loops stop at their deadline or this count, whichever comes first


@dataclass
class Native:
    tool: str
    rate: float
    errors: int = 0
    role: str = "ceiling only"  # what a row that is not the goal's reference shows in the goal column


PLACEMENTS = ("split", "shared")


def run_load_bench(stores: list[str] | None, concurrencies: list[int], seconds: float, workers: int | None,
                   placement: str, env_name: str, workdir: Path | None, base_port: int, out: Console) -> Table:
    """``workers`` None: one Locust worker per CPU the generators may use."""
    if unknown := set(stores or []) - set(KINDS):
        raise EstateError(f"unknown store(s): {', '.join(sorted(unknown))}")
    if placement not in PLACEMENTS:
        raise EstateError(f"unknown placement {placement!r}: split or shared")
    kinds = [k for k in KINDS if k in (stores or KINDS)]
    levels = sorted(set(concurrencies))
    with bench_environment(env_name, workdir, base_port, out) as (environment, _key):
        cpus, where = _placement(environment, placement)
        if workers is None:
            workers = len(cpus.generators) if cpus else os.cpu_count() or 1
        who = f"Locust master + {workers} worker processes" if workers else "Locust in one process"
        table = Table(title=f"{who} vs native ceiling, {seconds:g} s each, {os.cpu_count()} cores, {where} "
                            f"(ops/s; ratio = Locust ÷ native, goal ≥ {GOAL} at saturation)")
        for col in ("store", "operation", "concurrency", "Locust ops/s", "native ops/s", "native tool", "ratio", "goal"):
            table.add_column(col, justify="right" if col in ("concurrency", "Locust ops/s", "native ops/s", "ratio") else "left")
        try:
            with tempfile.TemporaryDirectory(prefix="estate-bench-load-") as tmp, _pinned(environment, cpus):
                env_file = Path(tmp) / "environment.json"
                write_private(env_file, environment.dump_json())
                for kind in kinds:
                    for n in levels:
                        _empty(environment, kind)
                        locust = lt.campaign(env_file, kind, n, seconds, workers)
                        _empty(environment, kind)
                        for i, native in enumerate(NATIVE[kind](environment, n, seconds, locust)):
                            table.add_row(*_row(kind, n, locust, native, saturation=n == levels[-1], reference=i == 0))
        finally:
            lt.cleanup(environment, kinds)
    out.print(table)
    return table


def _empty(env: Environment, kind: str) -> None:
    """Each measurement starts from an empty load target: a store whose reads slow down as it grows (FerretDB's
    find by _id does) would otherwise favour whichever side ran first. PostgreSQL starts right after a
    checkpoint, so that the timed one (every checkpoint_timeout) does not land in one side's run only."""
    lt.cleanup(env, [kind])
    lt.prepare(env, [kind])
    if kind == "postgres":
        with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
            conn.execute("CHECKPOINT")


def _placement(env: Environment, placement: str) -> tuple[Placement | None, str]:
    """The CPU split to measure under, and how the table's title says where things ran."""
    if env.workdir is None:
        return None, "servers in the environment, load generators here"
    cpus = split() if placement == "split" else None
    if cpus:
        return cpus, cpus.describe()
    why = "" if placement == "shared" else " (one CPU: nothing to split)"
    return None, f"servers and load generators sharing every CPU{why}"


def _pinned(env: Environment, cpus: Placement | None):
    if cpus is None:
        return nullcontext()
    return placed([pid for proc in LocalEstate(env.workdir).processes() if (pid := proc.pid())], cpus)


def _row(kind: str, n: int, locust: dict, native: Native, saturation: bool, reference: bool) -> list[str]:
    failures = sum(op["failures"] for op in locust["operations"].values())
    ratio = locust["total_rps"] / native.rate if native.rate else None
    goal = "—" if not saturation or ratio is None else native.role if not reference else (
        "[green]met[/green]" if ratio >= GOAL else "[red]missed[/red]")
    notes = "".join(f" ({count} {who} errors)" for who, count in (("Locust", failures), ("native", native.errors)) if count)
    return [kind, OPERATIONS[kind] + notes, str(n), f"{locust['total_rps']:,.0f}", f"{native.rate:,.0f}", native.tool,
            f"{ratio:.2f}" if ratio is not None else "n/a", goal]


def _threads(n: int, seconds: float, setup: Callable[[], object], step: Callable[[object, int], None],
             teardown: Callable[[object], None] = lambda _s: None) -> tuple[float, int]:
    """Run ``step(state, i)`` in a closed loop on n threads for ``seconds`` (after each thread's setup):
    the aggregate ops/s and the number of errors."""
    counts, errors, finished = [0] * n, [0] * n, [0.0] * n
    window: dict[str, float] = {}

    def open_window() -> None:  # runs once, when every thread is connected
        window["start"] = time.perf_counter()
        window["end"] = window["start"] + seconds

    ready = threading.Barrier(n, action=open_window, timeout=60)

    def worker(slot: int) -> None:
        state = setup()
        try:
            ready.wait()
            i = 0
            while i < MAX_OPS and time.perf_counter() < window["end"]:
                try:
                    step(state, i)
                    counts[slot] += 1
                except Exception:
                    errors[slot] += 1
                i += 1
            finished[slot] = time.perf_counter()
        finally:
            teardown(state)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    if "start" not in window or not all(finished):
        raise EstateError(f"the {n}-thread loop did not complete")
    return sum(counts) / (max(finished) - window["start"]), sum(errors)


# --- PostgreSQL: pgbench with the Locust user's SQL ------------------------------------------------

INSERT_SQL = ("\\set n random(0, 999999)\n"
              f"INSERT INTO {lt.LOAD_SCHEMA}.events (payload) "
              "VALUES (format('{\"kind\": \"load\", \"n\": %s}', :n::int)::jsonb) RETURNING id;\n")
SELECT_SQL = ("\\set id random(:minid, :maxid)\n"
              f"SELECT payload FROM {lt.LOAD_SCHEMA}.events WHERE id = :id;\n")


def _native_postgres(env: Environment, n: int, seconds: float, _locust: dict) -> list[Native]:
    pgbench = (postgres_bindir() or Path("/usr/bin")) / "pgbench"
    if not pgbench.exists():
        raise EstateError("pgbench not found: cannot measure the PostgreSQL ceiling")
    pg = adapter(env, "postgres")
    with pg.connect(Role.app, autocommit=True) as conn:  # keys to select: the rows Locust inserted (or a few)
        lo, hi = conn.execute(f"SELECT min(id), max(id) FROM {lt.LOAD_SCHEMA}.events").fetchone()
        if lo is None:
            conn.execute(f"INSERT INTO {lt.LOAD_SCHEMA}.events (payload) "
                         "SELECT jsonb_build_object('kind', 'load', 'n', g) FROM generate_series(1, 1000) g")
            lo, hi = conn.execute(f"SELECT min(id), max(id) FROM {lt.LOAD_SCHEMA}.events").fetchone()
    with tempfile.TemporaryDirectory(prefix="estate-pgbench-") as tmp:
        ins, sel = Path(tmp) / "insert.sql", Path(tmp) / "select.sql"
        ins.write_text(INSERT_SQL)
        sel.write_text(SELECT_SQL)
        argv = [str(pgbench), "-n", "-M", "prepared", "-c", str(n), "-j", str(min(2, n)), "-T", str(max(1, round(seconds))),
                "-D", f"minid={lo}", "-D", f"maxid={hi}", "-f", f"{ins}@1", "-f", f"{sel}@3"]
        proc = subprocess.run(argv, env=pg.libpq_env(Role.app), capture_output=True, text=True, timeout=seconds + 120)
    found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
    if proc.returncode != 0 or not found:
        raise EstateError(f"pgbench failed: {first_line(Exception(proc.stderr or proc.stdout))}")
    failed = re.search(r"number of failed transactions: (\d+)", proc.stdout)
    return [Native(f"pgbench -M prepared -c {n} -j {min(2, n)}", float(found.group(1)),
                   int(failed.group(1)) if failed else 0), _psycopg_loop(pg, n, seconds, lo, hi)]


def _psycopg_loop(pg, n: int, seconds: float, lo: int, hi: int) -> Native:
    """The same statements by psycopg on n threads, no Locust: what a Python client gets on this machine,
    so Locust's own cost (Locust ÷ this) is told apart from the Python client's (this ÷ pgbench)."""
    def setup():
        conn = pg.connect(Role.app, autocommit=True)
        return conn, conn.cursor()

    def step(state, i: int) -> None:
        if i % 4 == 0:
            state[1].execute(lt.LOAD_INSERT_SQL, ('{"kind": "load", "n": %d}' % random.randrange(1_000_000),)).fetchone()
        else:
            state[1].execute(lt.LOAD_SELECT_SQL, (random.randint(lo, hi),)).fetchone()

    rate, errors = _threads(n, seconds, setup, step, lambda state: state[0].close())
    return Native(f"psycopg loop, {n} threads (no Locust)", rate, errors, role="Python client ceiling")


# --- NATS: nats bench js pub sync (what Locust does) and async -----------------------------------

def _native_nats(env: Environment, n: int, seconds: float, locust: dict) -> list[Native]:
    """``sync`` (each publish waits for its ack, as the Locust user does: the ratio's reference) and ``async``
    (acks awaited per batch of 500: the broker's ceiling), same stream, clients and size."""
    natscli = tool("nats")
    if not natscli:
        raise EstateError("natscli not found in ~/.cache/estate/bin: run `make bootstrap` first")
    store = env.store("nats")
    cred = store.credential(Role.app)
    replicas = min(3, len(store.endpoints))
    msgs = min(200_000, max(50 * n, int(locust["total_rps"] * seconds)))  # about as long as the Locust run
    out = []
    for mode, count in (("sync", msgs), ("async", min(1_000_000, 10 * msgs))):
        proc = subprocess.run(
            [natscli, "bench", "js", "pub", mode, lt.LOAD_SUBJECT, "--stream", lt.LOAD_STREAM, "--clients", str(n),
             "--msgs", str(count), "--size", "256B", "--no-progress",
             "--server", ",".join(env.nats_urls(Role.app, with_credentials=False)), "--tlsca", str(env.ca_file)],
            env={**os.environ, "NATS_USER": cred.username, "NATS_PASSWORD": cred.password.get_secret_value()},
            capture_output=True, text=True, timeout=seconds * 20 + 120)
        text = proc.stdout + proc.stderr
        found = re.search(r"aggregated stats: ([\d,]+(?:\.\d+)?) msgs/sec", text) or re.search(r"([\d,]+(?:\.\d+)?) msgs/sec", text)
        if proc.returncode != 0 or not found:
            raise EstateError(f"nats bench js pub {mode} failed: {first_line(Exception(proc.stderr or proc.stdout))}")
        out.append(Native(f"nats bench js pub {mode} --clients {n} (R{replicas} file, 256 B, {count:,} msgs)",
                          float(found.group(1).replace(",", ""))))
    return out


# --- MongoDB: a raw pymongo loop -------------------------------------------------------------------

def _native_mongo(env: Environment, n: int, seconds: float, _locust: dict) -> list[Native]:
    mongo = adapter(env, "mongo")

    def setup():
        client = mongo.client(Role.app)
        coll = client[lt.LOAD_SCHEMA]["events"]
        coll.find_one({})  # connect before the clock starts
        return client, coll, []

    def step(state, i: int) -> None:
        _client, coll, ids = state
        if i % 4 == 0 or not ids:
            doc_id = uuid.uuid4().hex
            coll.insert_one({"_id": doc_id, "kind": "load", "n": random.randrange(1_000_000)})
            ids.append(doc_id)
        else:
            coll.find_one({"_id": random.choice(ids)})

    rate, errors = _threads(n, seconds, setup, step, lambda state: state[0].close())
    return [Native(f"pymongo loop, {n} threads", rate, errors)]


# --- MinIO: a raw minio-py loop (no warp) ----------------------------------------------------------

def _native_minio(env: Environment, n: int, seconds: float, _locust: dict) -> list[Native]:
    client, body = adapter(env, "minio").client(Role.app, connections=n), os.urandom(4096)
    client.bucket_exists(lt.LOAD_BUCKET)  # connect before the clock starts

    def step(keys: list[str], i: int) -> None:
        if i % 4 == 0 or not keys:
            key = f"bench/{uuid.uuid4().hex}"
            client.put_object(lt.LOAD_BUCKET, key, io.BytesIO(body), len(body))
            keys.append(key)
        else:
            resp = client.get_object(lt.LOAD_BUCKET, random.choice(keys))
            try:
                resp.read()
            finally:
                resp.close()
                resp.release_conn()

    rate, errors = _threads(n, seconds, list, step)
    return [Native(f"minio-py loop, {n} threads (no warp)", rate, errors)]


NATIVE: dict[str, Callable[[Environment, int, float, dict], list[Native]]] = {
    "postgres": _native_postgres, "nats": _native_nats, "mongo": _native_mongo, "minio": _native_minio}
