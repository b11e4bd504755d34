"""Durability lint: each setting planted below its declaration by hand, as an operator would, makes the
check FAIL naming it (or warn where the environment opts in); taken back, it holds again."""
from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from checks import Outcome
from estate.durability import Durability
from estate.environment import Environment, Role
from estate.local import LocalEstate
from estate.migrations.nats_store import stream_config
from estate.stores import adapter
from tests.verify.planted import fails_naming, holds, pg_admin, pg_system_settings, result, seeded  # noqa: F401  (fixture)

PG_SETTINGS, ARCHIVER = "durability settings as declared", "WAL archiver healthy"
NATS_SYNC, NATS_STREAMS = "JetStream sync_interval as declared", "declared streams replicated and stored as declared"
MONGO, MINIO = "default write concern and journaling as declared", "erasure parity and drives as declared"


def opted_in(env: Environment, *settings: str) -> Environment:
    durability = env.durability.model_copy(update={"opt_in_unsafe": list(settings)})
    return env.model_copy(update={"durability": durability})


def test_the_old_free_text_form_still_loads() -> None:
    d = Durability.model_validate({"postgres": "fsync=on, synchronous_commit=on", "nats": "sync_interval=always"})
    assert d.notes["postgres"] == "fsync=on, synchronous_commit=on"
    assert d.postgres.fsync == "on" and d.nats.sync_interval == "always"  # the safe defaults are expected
    with pytest.raises(ValueError, match="unknown setting 'nats.fsync'"):
        Durability.model_validate({"opt_in_unsafe": ["nats.fsync"]})


def test_a_healthy_estate_holds(seeded: Environment) -> None:
    for kind, name in (("postgres", PG_SETTINGS), ("postgres", ARCHIVER), ("nats", NATS_SYNC),
                       ("nats", NATS_STREAMS), ("minio", MINIO)):
        holds(seeded, kind, name)
    mongo = result(seeded, "mongo", MONGO)
    if seeded.store("mongo").server == "ferretdb":
        assert mongo.outcome == Outcome.unsupported and "no replica set" in mongo.detail
    else:
        assert mongo.outcome == Outcome.holds, mongo.differences


@pytest.mark.parametrize("name, value, line", [
    ("fsync", "off", "postgres postgres-primary fsync: declared on, live off"),
    ("full_page_writes", "off", "postgres postgres-primary full_page_writes: declared on, live off"),
    ("synchronous_commit", "local", "postgres postgres-primary synchronous_commit: declared >= on, live local"),
    ("synchronous_standby_names", "", "postgres postgres-primary synchronous_standby: declared synchronous_standby_names set"),
])
def test_a_postgres_setting_below_its_declaration_fails(seeded: Environment, name: str, value: str, line: str) -> None:
    with pg_system_settings(seeded, **{name: value}):
        fails_naming(seeded, "postgres", PG_SETTINGS, line)
    holds(seeded, "postgres", PG_SETTINGS, within=5)


def test_an_opted_in_unsafe_setting_warns_instead(seeded: Environment) -> None:
    with pg_system_settings(seeded, **{"synchronous_commit": "off"}):
        fails_naming(seeded, "postgres", PG_SETTINGS, "synchronous_commit: declared >= on, live off")
        res = fails_naming(opted_in(seeded, "postgres.synchronous_commit"), "postgres", PG_SETTINGS,
                           "synchronous_commit: declared >= on, live off (opted in as unsafe)", outcome=Outcome.warns)
        assert all("opted in" in line for line in res.differences)
    holds(seeded, "postgres", PG_SETTINGS, within=5)


def test_a_role_that_commits_asynchronously_fails(seeded: Environment) -> None:
    app = seeded.store("postgres").credential(Role.app).username
    with pg_admin(seeded) as conn:
        conn.execute(f'ALTER ROLE "{app}" SET synchronous_commit = off')
    try:
        fails_naming(seeded, "postgres", PG_SETTINGS, f"(ALTER ROLE {app} IN DATABASE * SET) synchronous_commit: "
                                                       "declared >= on, live off")
    finally:
        with pg_admin(seeded) as conn:
            conn.execute(f'ALTER ROLE "{app}" RESET synchronous_commit')
    holds(seeded, "postgres", PG_SETTINGS)


def _archiver_failures(conn) -> int:
    return conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()[0]


def test_a_failing_archiver_fails(seeded: Environment) -> None:
    with pg_system_settings(seeded, **{"archive_command": "/bin/false"}):
        with pg_admin(seeded) as conn:  # the incident: the next segment cannot be archived
            failed = _archiver_failures(conn)
            conn.execute("SELECT pg_logical_emit_message(false, 'test', 'x'), pg_switch_wal()")
            deadline = time.monotonic() + 20
            while _archiver_failures(conn) == failed and time.monotonic() < deadline:
                time.sleep(0.2)
        fails_naming(seeded, "postgres", ARCHIVER, "postgres archiver: failing since")
    res = holds(seeded, "postgres", ARCHIVER, within=30)  # its forced switch proves the archive works again
    assert "archived" in res.detail


@contextmanager
def nats_server_config(local_estate: LocalEstate, i: int, old: str, new: str):
    """Rewrite server ``i``'s config and restart it through the local estate's processes; then put back."""
    conf = local_estate.nats.root / f"n{i}.conf"
    original = conf.read_text()
    assert old in original

    def restart(text: str) -> None:
        proc = local_estate.nats.processes()[i - 1]
        proc.stop()
        conf.write_text(text)
        proc.start()
        proc.wait_healthy(lambda: local_estate.nats.monitor(i, "healthz").get("status") == "ok", timeout=60)

    restart(original.replace(old, new))
    try:
        yield
    finally:
        restart(original)


def test_a_nats_server_syncing_lazily_fails_or_warns_when_opted_in(local_estate: LocalEstate, seeded: Environment) -> None:
    with nats_server_config(local_estate, 2, "sync_interval: always", "sync_interval: \"2m\""):
        fails_naming(seeded, "nats", NATS_SYNC, "nats nats-2 sync_interval: declared always, live 120s")
        fails_naming(opted_in(seeded, "nats.sync_interval"), "nats", NATS_SYNC,
                     "nats nats-2 sync_interval: declared always, live 120s (opted in as unsafe)", outcome=Outcome.warns)
    holds(seeded, "nats", NATS_SYNC, within=10)


def _update_stream(env: Environment, replicas: int) -> None:
    nats = adapter(env, "nats")

    async def go() -> None:
        nc = await nats.connect(Role.admin)
        try:
            await nc.jetstream().update_stream(stream_config(replicas))
        finally:
            await nc.close()

    nats.run(go)


def test_a_stream_scaled_down_fails(seeded: Environment) -> None:
    _update_stream(seeded, 1)
    try:
        fails_naming(seeded, "nats", NATS_STREAMS, "nats stream THE0_EVENTS stream_replicas: declared 3, live 1")
    finally:
        _update_stream(seeded, 3)
    holds(seeded, "nats", NATS_STREAMS, within=20)


def test_lower_erasure_parity_fails(seeded: Environment) -> None:
    admin = adapter(seeded, "minio").admin()
    admin.config_set("storage_class", {"standard": "EC:1"})
    try:
        fails_naming(seeded, "minio", MINIO, "minio STANDARD storage class parity: declared EC:2, live EC:1")
    finally:
        admin.config_set("storage_class", {"standard": "EC:2"})
    holds(seeded, "minio", MINIO, within=10)
