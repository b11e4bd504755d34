"""Durability lint: each store's live settings against the environment's declared durability
(``estate.durability``). A setting below its declaration fails, unless the environment lists it in
``opt_in_unsafe``: then it warns."""
from __future__ import annotations

import json
import time
import urllib.request

from checks.registry import Failed, Unsupported, Warned, check
from estate.durability import COMMIT_LEVELS, WAL_LEVELS, Durability, seconds
from estate.environment import Role

ARCHIVE_WAIT = 15.0  # seconds a forced WAL switch gets to reach the archive


class Findings:
    """Differences of one store from its declared durability: failures, or warnings where opted in."""

    def __init__(self, durability: Durability, store: str):
        self.durability, self.store = durability, store
        self.failures: list[str] = []
        self.warnings: list[str] = []

    def differ(self, setting: str, where: str, declared, live) -> None:
        line = f"{self.store} {where} {setting}: declared {declared}, live {live}"
        if self.durability.opted_in(self.store, setting):
            self.warnings.append(f"{line} (opted in as unsafe)")
        else:
            self.failures.append(line)

    def verdict(self, holds: str) -> str:
        if self.failures:
            raise Failed(self.failures + self.warnings)
        if self.warnings:
            raise Warned(self.warnings)
        return holds


# --- PostgreSQL --------------------------------------------------------------------------------------

_PG_SETTINGS = ("fsync", "full_page_writes", "synchronous_commit", "wal_level", "archive_mode",
                "synchronous_standby_names")


def _at_least(order: tuple[str, ...], live: str, declared: str) -> bool:
    return live in order and order.index(live) >= order.index(declared)


@check("durability settings as declared", "postgres")
def _pg_settings(a) -> str:
    want, found = a.env.durability.postgres, Findings(a.env.durability, "postgres")
    has_standby = any(ep.role == "standby" for ep in a.store.endpoints)
    for ep in a.store.endpoints:
        with a.connect(Role.admin, ep.role) as conn:
            live = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                     (list(_PG_SETTINGS),)).fetchall())
            overrides = conn.execute(
                "SELECT coalesce(r.rolname, '*'), coalesce(d.datname, '*'), split_part(c, '=', 2) "
                "FROM pg_db_role_setting s LEFT JOIN pg_roles r ON r.oid = s.setrole "
                "LEFT JOIN pg_database d ON d.oid = s.setdatabase, unnest(s.setconfig) c "
                "WHERE split_part(c, '=', 1) = 'synchronous_commit'").fetchall() if ep.role == "primary" else []
        for name in ("fsync", "full_page_writes"):
            if live[name] != getattr(want, name):
                found.differ(name, ep.name, getattr(want, name), live[name])
        if not _at_least(COMMIT_LEVELS, live["synchronous_commit"], want.synchronous_commit):
            found.differ("synchronous_commit", ep.name, f">= {want.synchronous_commit}", live["synchronous_commit"])
        for role, db, value in overrides:  # ALTER ROLE/DATABASE … SET synchronous_commit wins over the server's
            if not _at_least(COMMIT_LEVELS, value, want.synchronous_commit):
                found.differ("synchronous_commit", f"{ep.name} (ALTER ROLE {role} IN DATABASE {db} SET)",
                             f">= {want.synchronous_commit}", value)
        if not _at_least(WAL_LEVELS, live["wal_level"], want.wal_level):
            found.differ("wal_level", ep.name, f">= {want.wal_level}", live["wal_level"])
        if want.archive_mode != "off" and live["archive_mode"] not in {"on": ("on", "always"), "always": ("always",)}[want.archive_mode]:
            found.differ("archive_mode", ep.name, want.archive_mode, live["archive_mode"])
        if ep.role == "primary" and has_standby and want.synchronous_standby and not live["synchronous_standby_names"]:
            found.differ("synchronous_standby", ep.name, "synchronous_standby_names set", "empty (commits do not wait for the standby)")
    return found.verdict(f"{len(a.store.endpoints)} server(s): fsync, full_page_writes, synchronous_commit, wal_level, "
                         f"archive_mode{', synchronous standby' if has_standby else ''} as declared")


_ARCHIVER = ("SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time, now() "
             "FROM pg_stat_archiver")


def _archiver_problem(row, max_age: float) -> str | None:
    """Why the archiver is not healthy (None if it is): a failure since the last success, or no recent success."""
    archived_wal, archived_at, failed_wal, failed_at, now = row
    if failed_at and (archived_at is None or failed_at > archived_at):
        return (f"postgres archiver: failing since {failed_at:%Y-%m-%d %H:%M:%S} on {failed_wal}, "
                f"last success {f'{archived_at:%Y-%m-%d %H:%M:%S} ({archived_wal})' if archived_at else 'never'}")
    if archived_at is None:
        return "postgres archiver: nothing archived yet"
    if (now - archived_at).total_seconds() > max_age:
        return f"postgres archiver: last archived segment {archived_wal} is {(now - archived_at).total_seconds():.0f}s old"
    return None


@check("WAL archiver healthy", "postgres")
def _pg_archiver(a) -> str:
    want = a.env.durability.postgres
    if want.archive_mode == "off":
        raise Unsupported("the environment declares archive_mode off: no WAL archive to check")
    with a.connect(Role.admin, autocommit=True) as conn:
        row = conn.execute(_ARCHIVER).fetchone()
        if _archiver_problem(row, want.archive_max_age_seconds) is None:
            return f"last archived {row[0]} {(row[4] - row[1]).total_seconds():.0f}s ago, no failure since"
        # Prove it archives: write a WAL record, close the segment, and wait for the archive to take it.
        conn.execute("SELECT pg_logical_emit_message(false, 'estate-verify', 'archiver probe')")
        segment = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
        deadline, t0 = time.monotonic() + ARCHIVE_WAIT, time.monotonic()
        while time.monotonic() < deadline:
            row = conn.execute(_ARCHIVER).fetchone()
            if row[0] and row[0] >= segment and _archiver_problem(row, want.archive_max_age_seconds) is None:
                return f"forced WAL switch: {segment} archived in {time.monotonic() - t0:.1f}s"
            time.sleep(0.2)
    problem = _archiver_problem(row, want.archive_max_age_seconds) or f"postgres archiver: {segment} not archived"
    raise Failed([f"{problem}; a forced switch to {segment} was not archived within {ARCHIVE_WAIT:.0f}s"])


# --- NATS --------------------------------------------------------------------------------------------

def monitor(a, ep, path: str) -> dict:
    """A NATS server's HTTPS monitoring endpoint (``/varz``, ``/jsz``…), verified against the CA."""
    with urllib.request.urlopen(f"https://{ep.host}:{ep.monitor_port}/{path}", context=a.tls_context(), timeout=5) as r:
        return json.load(r)


def _sync_interval(config: dict) -> str:
    """The live JetStream sync setting from /varz: 'always' or the interval as a duration."""
    if config.get("sync_always"):
        return "always"
    return f"{config.get('sync_interval', 120_000_000_000) / 1e9:g}s"  # nanoseconds; the server's default is 2 min


@check("JetStream sync_interval as declared", "nats")
def _nats_sync(a) -> str:
    want, found = a.env.durability.nats, Findings(a.env.durability, "nats")
    servers = [ep for ep in a.store.endpoints if ep.monitor_port]
    if not servers:
        raise Unsupported("no NATS monitoring endpoint in this environment: the sync setting cannot be read")
    for ep in servers:
        live = _sync_interval(monitor(a, ep, "varz").get("jetstream", {}).get("config", {}))
        ok = live == "always" or (want.sync_interval != "always" and seconds(live) <= seconds(want.sync_interval))
        if not ok:
            found.differ("sync_interval", ep.name, want.sync_interval, live)
    return found.verdict(f"{len(servers)} server(s) sync {want.sync_interval}")


@check("declared streams replicated and stored as declared", "nats")
def _nats_streams(a) -> str:
    from nats.js.errors import NotFoundError

    from estate.migrations.nats_store import stream_config

    want, found = a.env.durability.nats, Findings(a.env.durability, "nats")
    declared = [stream_config(want.stream_replicas).name]

    async def read() -> list:
        nc = await a.connect(Role.admin)
        try:
            js, out = nc.jetstream(), []
            for name in declared:
                try:
                    out.append((name, await js.stream_info(name)))
                except NotFoundError:
                    out.append((name, None))
            return out
        finally:
            await nc.close()

    for name, info in a.run(read):
        if info is None:
            found.failures.append(f"nats stream {name}: declared, not found (run `estate migrate`)")
            continue
        cfg = info.config
        if (cfg.num_replicas or 1) < want.stream_replicas:
            found.differ("stream_replicas", f"stream {name}", want.stream_replicas, cfg.num_replicas)
        storage = getattr(cfg.storage, "value", cfg.storage)
        if storage != want.stream_storage:
            found.differ("stream_storage", f"stream {name}", want.stream_storage, storage)
        offline = [p.name for p in (info.cluster.replicas or []) if p.offline] if info.cluster else []
        if offline:
            found.failures.append(f"nats stream {name} replicas: offline peers {', '.join(offline)}")
    return found.verdict(f"{', '.join(declared)}: R{want.stream_replicas}+ on {want.stream_storage} storage")


# --- MongoDB -----------------------------------------------------------------------------------------

@check("default write concern and journaling as declared", "mongo")
def _mongo_write_concern(a) -> str:
    if not a.store.capabilities.get("replica_set"):
        raise Unsupported(f"{a.store.server} has no replica set: no cluster-wide default write concern or "
                          "majority journaling to check")
    want, found = a.env.durability.mongo, Findings(a.env.durability, "mongo")
    with a.client(Role.admin) as c:
        wc = c.admin.command("getDefaultRWConcern").get("defaultWriteConcern") or {}
        config = c.admin.command("replSetGetConfig")["config"]
        parsed = c.admin.command("getCmdLineOpts").get("parsed", {})
    if str(wc.get("w")) != want.write_concern:
        found.differ("write_concern", "default", want.write_concern, wc.get("w", "unset"))
    journaled = wc.get("j") is True or (wc.get("w") == "majority" and config.get("writeConcernMajorityJournalDefault", True))
    if want.journal and not journaled:
        found.differ("journal", "default write concern", "journaled", f"j={wc.get('j')}, writeConcernMajorityJournalDefault="
                     f"{config.get('writeConcernMajorityJournalDefault')}")
    if want.journal and parsed.get("storage", {}).get("journal", {}).get("enabled") is False:
        found.differ("journal", "mongod", "enabled", "disabled (--nojournal)")
    return found.verdict(f"default write concern w={wc.get('w')}, journaled")


# --- MinIO -------------------------------------------------------------------------------------------

@check("erasure parity and drives as declared", "minio")
def _minio_parity(a) -> str:
    want, found = a.env.durability.minio, Findings(a.env.durability, "minio")
    info = a.server_info()
    backend = info.get("backend", {})
    drives = [d for s in info.get("servers", []) for d in s.get("drives", [])]
    parity = backend.get("standardSCParity")
    if backend.get("backendType") != "Erasure":
        found.differ("parity", "backend", f"erasure-coded EC:{want.parity}", backend.get("backendType"))
    elif parity is None or parity < want.parity:
        found.differ("parity", "STANDARD storage class", f"EC:{want.parity}", f"EC:{parity}")
    if len(drives) != want.drives:
        found.differ("drives", "deployment", want.drives, len(drives))
    offline = [d.get("endpoint", "?") for d in drives if d.get("state") != "ok"]
    if offline:
        found.differ("drives", "online", f"all {want.drives}", f"offline: {', '.join(offline)}")
    return found.verdict(f"EC:{parity} over {len(drives)} drives, all online")
