"""Failover drills on the local estate: inject a fault while a client writes, then count what was
acknowledged and lost.

The client keeps the ledger, as Jepsen does: a write counts only once the store acknowledged it, and
after the fault every acknowledged write must be readable. The outage is the time from the fault to
the first write acknowledged again. Each drill puts the estate back as it found it.

- PostgreSQL: SIGKILL the primary mid-stream, promote the synchronous standby, check the ledger,
  rewind the old primary (pg_rewind) as the new synchronous standby, then switch back cleanly.
  The drill drives the promotion itself: the outage holds no failure-detection time (an operator
  such as CloudNativePG adds its own).
- NATS: SIGKILL the server leading an R3 stream mid-stream, check the ledger, restart the server.
- MinIO: replace a drive with an empty one mid-stream, check the ledger, wait for the heal.
- MongoDB: FerretDB has no replica set, so there is nothing to fail over to; a drill for a mongod
  replica set is not written yet (no mongod exists here to prove it against). Both are reported.
"""
from __future__ import annotations

import asyncio
import io
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg
from minio.error import S3Error
from nats.js.api import StorageType, StreamConfig

from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.local import LocalEstate
from estate.stores.minio import MinioAdapter
from estate.stores.nats import NatsAdapter, add_stream, retrying
from estate.stores.postgres import PostgresAdapter

WRITE_SECONDS = 1.5  # of acknowledged writes before the fault, and again after it
DRILL_DB = "estate_probe_failover"
DRILL_STREAM = "ESTATE_PROBE_FAILOVER"
DRILL_BUCKET = "estate-probe-failover"


@dataclass
class FailoverReport:
    store: str
    fault: str
    acked: int = 0
    lost: list = field(default_factory=list)
    outage: float | None = None  # seconds from the fault to the next acknowledged write
    detail: str = ""
    unsupported: str = ""

    @property
    def holds(self) -> bool:
        return not self.unsupported and not self.lost and self.acked > 0 and self.outage is not None


def run(estate: LocalEstate, env: Environment, stores: list[str]) -> list[FailoverReport]:
    drills = {"postgres": postgres, "mongo": mongo, "nats": nats, "minio": minio}
    return [drills[kind](estate, env) for kind in stores]


# --- PostgreSQL ------------------------------------------------------------------------------------

def postgres(estate: LocalEstate, env: Environment) -> FailoverReport:
    report = FailoverReport("postgres", "SIGKILL the primary, promote the synchronous standby")
    pg, local = PostgresAdapter(env), estate.postgres
    with pg.connect(Role.admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DRILL_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DRILL_DB}")
    with pg.connect(Role.admin, dbname=DRILL_DB, autocommit=True) as conn:
        conn.execute("CREATE TABLE ledger (id bigint PRIMARY KEY)")
    acked: list[int] = []

    def writer() -> None:
        with pg.connect(Role.admin, dbname=DRILL_DB, autocommit=True) as conn:
            for i in itertools.count(1):
                try:
                    conn.execute("INSERT INTO ledger VALUES (%s)", (i,))
                except psycopg.Error:
                    return  # the primary is gone: this write is in doubt, never counted
                acked.append(i)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(WRITE_SECONDS)
    fault = time.monotonic()
    local.crash("primary")
    thread.join(timeout=30)
    try:
        local.promote("standby")
        # Strict synchronous replication: the new primary acknowledges its first commit only once the
        # old primary, rebuilt as its standby, streams from it; the outage lasts until then.
        first = threading.Thread(target=_first_write, args=(pg, report, fault), daemon=True)
        first.start()
        local.rebuild("primary", "standby")
        first.join(timeout=60)
        with pg.connect(Role.admin, "standby", dbname=DRILL_DB, autocommit=True) as conn:
            present = {r[0] for r in conn.execute("SELECT id FROM ledger")}
        report.acked, report.lost = len(acked), sorted(set(acked) - present)
        local.switch_back()
    except (EstateError, psycopg.Error) as exc:
        raise EstateError(f"postgres failover drill stopped half-way ({first_line(exc)}); the standby member may now lead: "
                          "check `estate status` before trusting this estate") from None
    with pg.connect(Role.admin, dbname=DRILL_DB, autocommit=True) as conn:  # the original primary again
        after = {r[0] for r in conn.execute("SELECT id FROM ledger")}
    with pg.connect(Role.admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {DRILL_DB} WITH (FORCE)")
        sync = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchall()
    if missing := sorted((set(acked) | {0}) - after):
        report.lost = sorted(set(report.lost) | set(missing))
    report.detail = (f"{len(present - set(acked) - {0})} in-doubt write(s) kept; writes resumed once the old "
                     f"primary was rebuilt as the synchronous standby; switched back, standby "
                     f"{sync[0][0] if sync else 'missing'}")
    return report


def _first_write(pg: PostgresAdapter, report: FailoverReport, fault: float) -> None:
    with pg.connect(Role.admin, "standby", dbname=DRILL_DB, autocommit=True) as conn:
        conn.execute("INSERT INTO ledger VALUES (0)")
    report.outage = time.monotonic() - fault


# --- MongoDB ---------------------------------------------------------------------------------------

def mongo(estate: LocalEstate, env: Environment) -> FailoverReport:
    store = env.store("mongo")
    report = FailoverReport("mongo", "SIGKILL the replica set primary")
    if not store.capabilities.get("replica_set"):
        report.unsupported = f"{store.server} has no replica set: there is nothing to fail over to"
    else:
        report.unsupported = "the failover drill for a mongod replica set is not written yet (no mongod here to prove it)"
    return report


# --- NATS ------------------------------------------------------------------------------------------

def nats(estate: LocalEstate, env: Environment) -> FailoverReport:
    report = FailoverReport("nats", "SIGKILL the server leading an R3 stream")
    adapter = NatsAdapter(env)
    replicas = min(3, len(env.store("nats").endpoints))
    if replicas < 3:
        report.unsupported = "a single NATS server: no replica to fail over to"
        return report
    processes = {f"n{p.name.rsplit('-', 1)[1]}": p for p in estate.nats.processes()}

    async def go() -> None:
        nc = await adapter.connect(Role.app, max_reconnect_attempts=-1)
        js = nc.jetstream(timeout=2)
        try:
            await add_stream(js, StreamConfig(name=DRILL_STREAM, subjects=["estate_probe.failover"],
                                             storage=StorageType.FILE, num_replicas=3))
            leader = None
            while leader is None:  # a new R3 stream elects its leader a moment after creation
                leader = (await retrying(lambda: js.stream_info(DRILL_STREAM), "reading the drill stream")).cluster.leader
                await asyncio.sleep(0.05 if leader is None else 0)
            acked: list[str] = []
            fault = None
            loop = asyncio.get_running_loop()
            stop_at = loop.time() + WRITE_SECONDS
            for i in itertools.count():
                if fault is None and loop.time() > stop_at:
                    await asyncio.to_thread(processes[leader].crash)
                    fault, stop_at = time.monotonic(), loop.time() + 30
                if fault is not None and loop.time() > stop_at:  # 30 s without an ack, or done
                    break
                msg_id = f"m{i}"
                try:
                    await js.publish("estate_probe.failover", msg_id.encode(), headers={"Nats-Msg-Id": msg_id})
                except Exception:  # timeouts and "no responders" while a new leader is elected: in doubt
                    await asyncio.sleep(0.05)
                    continue
                acked.append(msg_id)
                if fault is not None and report.outage is None:
                    report.outage = time.monotonic() - fault
                    stop_at = loop.time() + WRITE_SECONDS
            info = await retrying(lambda: js.stream_info(DRILL_STREAM), "reading the drill stream")
            present = set()
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await retrying(lambda seq=seq: js.get_msg(DRILL_STREAM, seq), "reading the drill stream")
                present.add(msg.data.decode())
            report.acked, report.lost = len(acked), sorted(set(acked) - present, key=lambda m: int(m[1:]))
            await asyncio.to_thread(estate.nats.up, lambda _: None)  # restarts the killed server, waits for health
            report.detail = f"leader {leader} killed, {info.cluster.leader} took over; {leader} restarted"
            await retrying(lambda: js.delete_stream(DRILL_STREAM), "deleting the drill stream")
        finally:
            await nc.close()

    adapter.run(go)
    return report


# --- MinIO -----------------------------------------------------------------------------------------

def minio(estate: LocalEstate, env: Environment) -> FailoverReport:
    report = FailoverReport("minio", "replace a drive with an empty one (EC:2 over 4 drives)")
    client = MinioAdapter(env).client(Role.admin)
    if not client.bucket_exists(DRILL_BUCKET):
        client.make_bucket(DRILL_BUCKET)
    acked: dict[str, bytes] = {}
    fault, deadline = None, time.monotonic() + WRITE_SECONDS
    for i in itertools.count():
        if fault is None and time.monotonic() > deadline:
            estate.minio.replace_drive(4)
            fault, deadline = time.monotonic(), time.monotonic() + WRITE_SECONDS
        elif fault is not None and time.monotonic() > deadline:
            break
        body = uuid.uuid4().bytes * 256
        try:
            client.put_object(DRILL_BUCKET, f"o{i}", io.BytesIO(body), len(body))
        except S3Error as exc:
            report.detail = f"a write failed: {first_line(exc)}; "
            continue
        acked[f"o{i}"] = body
        if fault is not None and report.outage is None:
            report.outage = time.monotonic() - fault
    lost = []
    for key, body in acked.items():
        try:
            resp = client.get_object(DRILL_BUCKET, key)
            ok = resp.read() == body
            resp.close()
            resp.release_conn()
        except S3Error:
            ok = False
        if not ok:
            lost.append(key)
    report.acked, report.lost = len(acked), lost
    healed = estate.minio.wait_healed(timeout=90)
    for item in client.list_objects(DRILL_BUCKET, include_version=True):
        client.remove_object(DRILL_BUCKET, item.object_name, version_id=item.version_id)
    client.remove_bucket(DRILL_BUCKET)
    report.detail += "the new drive was healed" if healed else "the new drive was NOT healed within 90s"
    if not healed:
        raise EstateError("minio: the replaced drive was not healed within 90s")
    return report
