"""What must hold for every store: TLS, refusal of plaintext, a backup that restores, and each store's redundancy."""
from __future__ import annotations

import asyncio

from checks.registry import Unsupported, check
from estate.backup import drill
from estate.environment import Role
from estate.stores import KINDS
from estate.stores.nats import add_stream
from estate.stores.base import StoreAdapter

def _tls_roundtrip(a: StoreAdapter) -> str:
    return a.roundtrip(Role.app)


def _plaintext_refused(a: StoreAdapter) -> str:
    assert a.plaintext_refused(), "a plaintext connection was accepted"
    return "refused"


def _all_up(a: StoreAdapter) -> str:
    statuses = a.status()
    down = [s.name for s in statuses if not (s.up and s.tls)]
    assert not down, f"down or without TLS: {', '.join(down)}"
    return f"{len(statuses)} server(s) up with TLS"


def _backup_restores(a: StoreAdapter) -> str:
    d = drill(a)
    assert not d.differences, f"{len(d.differences)} unit(s) differ after restore: {'; '.join(d.differences[:2])}"
    return f"{len(d.expected)} units, {d.rows} items restored identically ({d.seconds:.1f}s)"


for _kind in KINDS:
    check("every server up over TLS", _kind)(_all_up)
    check("tls round trip", _kind)(_tls_roundtrip)
    check("plaintext refused", _kind)(_plaintext_refused)
    check("backup restores identically", _kind)(_backup_restores)


@check("synchronous standby streaming", "postgres")
def _pg_sync(a) -> str:
    if not any(ep.role == "standby" for ep in a.store.endpoints):
        raise Unsupported("no standby in this environment")
    with a.connect(Role.admin) as conn:
        rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
        commit = conn.execute("SHOW synchronous_commit").fetchone()[0]
    assert any(state == "sync" for _, state in rows), f"no synchronous standby: {rows}"
    assert commit in ("on", "remote_apply"), f"synchronous_commit={commit}"
    return f"standbys {rows}, synchronous_commit={commit}"


@check("replica set with majority writes", "mongo")
def _mongo_rs(a) -> str:
    if not a.store.capabilities.get("replica_set"):
        raise Unsupported(f"{a.store.server} has no replica set (single node, no failover)")
    with a.client(Role.admin) as c:
        hello = c.admin.command("hello")
    assert hello.get("setName") and len(hello.get("hosts", [])) >= 3, hello.get("hosts")
    return f"replica set {hello['setName']} with {len(hello['hosts'])} members"


@check("JetStream cluster of 3 with a meta leader", "nats")
def _nats_cluster(a) -> str:
    statuses = a.status()
    urls = {len(s.extra.get("connect_urls", [])) for s in statuses if s.up}
    assert urls and min(urls) >= 3, f"cluster members seen: {urls}"
    leaders = [s.name for s in statuses if s.role == "leader"]
    if any(ep.monitor_port for ep in a.store.endpoints):
        assert len(leaders) == 1, f"meta leaders: {leaders}"
    return f"{min(urls)} members" + (f", leader {leaders[0]}" if leaders else "")


@check("all drives online, erasure-coded", "minio")
def _minio_drives(a) -> str:
    info = a.server_info()
    backend = info.get("backend", {})
    drives = [d for s in info.get("servers", []) for d in s.get("drives", [])]
    offline = [d.get("endpoint") for d in drives if d.get("state") != "ok"]
    assert backend.get("backendType") == "Erasure", f"backend {backend.get('backendType')}"
    assert not offline, f"offline drives: {offline}"
    return f"{len(drives)} drives online, EC:{backend.get('standardSCParity')}"


@check("R3 stream accepted", "nats")
def _nats_r3(a) -> str:
    from nats.js.api import StreamConfig

    async def go() -> str:
        nc = await a.connect(Role.app)
        js = nc.jetstream()
        try:
            info = await add_stream(js, StreamConfig(name="ESTATE_VERIFY_R3", subjects=["estate.verify.r3"],
                                                    num_replicas=3, max_msgs=1))
            return f"leader {info.cluster.leader}, {len(info.cluster.replicas or [])} replicas"
        finally:
            try:
                await js.delete_stream("ESTATE_VERIFY_R3")
            finally:
                await nc.close()

    return asyncio.run(go())


@check("concurrent updates of one document are not lost", "mongo")
def _mongo_atomic_inc(a) -> str:
    from concurrent.futures import ThreadPoolExecutor

    clients, each = 8, 50
    with a.client(Role.app) as c:
        coll = c["estate_probe"]["atomic_inc"]
        coll.replace_one({"_id": "counter"}, {"_id": "counter", "n": 0}, upsert=True)

        def bump(_: int) -> None:
            for _ in range(each):
                coll.update_one({"_id": "counter"}, {"$inc": {"n": 1}})

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(bump, range(clients)))
        got = coll.find_one({"_id": "counter"})["n"]
        coll.delete_one({"_id": "counter"})
    if got != clients * each:
        msg = f"{clients} clients x {each} $inc left n={got}, not {clients * each}: updates were lost"
        if a.store.capabilities.get("atomic_updates") is False:
            raise Unsupported(f"{a.store.server}: {msg}")
        raise AssertionError(msg)
    return f"{clients} clients x {each} $inc = {got}"
