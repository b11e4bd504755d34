"""`estate seed` against the real local estate: counts, every cross-store reference, idempotence."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from estate.crypto import load_key
from estate.environment import Environment, Role
from estate.seed import generate, seed_estate
from estate.seed.verify import verify
from estate.seed.writers import STREAM, minio_client
from estate.stores import adapter

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SEED = 7


def snapshot(env: Environment) -> dict[str, int]:
    """Every count the seed can change, read from the servers."""
    counts: dict[str, int] = {}
    with adapter(env, "postgres").connect(Role.admin) as conn:
        for table in ("chat_sessions", "chat_messages", "artifacts", "settings", "exchange_api_keys"):
            counts[f"pg.{table}"] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    with adapter(env, "mongo").client(Role.admin) as client:
        for db in ("bot_core", "bot_runner", "backtest_runner", "bot_scheduler"):
            for coll in client[db].list_collection_names():
                counts[f"mongo.{db}.{coll}"] = client[db][coll].count_documents({})
    minio = minio_client(env, 1)
    for bucket in ("custom-bots", "bot-code", "backtest-results", "ai-artifacts"):
        counts[f"minio.{bucket}"] = sum(1 for _ in minio.list_objects(bucket, recursive=True))
    nats = adapter(env, "nats")

    async def subjects() -> dict[str, int]:
        nc = await nats.connect(Role.app)
        info = await nc.jetstream().stream_info(STREAM, subjects_filter=">")
        await nc.close()
        return info.state.subjects or {}

    counts |= {f"nats.{s}": n for s, n in nats.run(subjects).items()}
    return counts


@pytest.fixture(scope="module")
def seeded(migrated: Environment, workdir: Path, cli) -> tuple[Environment, dict[str, int]]:
    before = snapshot(migrated)
    proc = cli("seed", "--scale", "1", "--seed", str(SEED), "--as-of", "2026-11-01", "--workdir", str(workdir))
    assert proc.returncode == 0, proc.stderr
    assert "every cross-store reference holds" in proc.stdout
    return migrated, before


def test_generator_is_deterministic_and_seed_sensitive() -> None:
    a, b, other = generate(SEED, 1, AS_OF), generate(SEED, 1, AS_OF), generate(SEED + 1, 1, AS_OF)
    assert a.collections == b.collections and a.tables == b.tables
    assert [o.data for o in a.objects] == [o.data for o in b.objects]
    assert a.collections["bot_core.users"][0]["_id"] != other.collections["bot_core.users"][0]["_id"]


def test_seed_writes_every_item_of_the_dataset(seeded) -> None:
    env, before = seeded
    ds = generate(SEED, 1, AS_OF)
    after = snapshot(env)
    grew = {k: after[k] - before.get(k, 0) for k in after}
    for name, table in ds.tables.items():
        if name != "settings":  # global keys: replaced, not added
            assert grew[f"pg.{name}"] == len(table.rows), name
    for name, docs in ds.collections.items():
        assert grew[f"mongo.{name}"] == len(docs), name
    for bucket in ("custom-bots", "bot-code", "backtest-results", "ai-artifacts"):
        assert grew[f"minio.{bucket}"] == sum(o.bucket == bucket for o in ds.objects), bucket
    assert grew["pg.exchange_api_keys"] == grew["mongo.bot_core.api_keys"] == len(ds.api_keys) > 0
    bots = len(ds.collections["bot_runner.bots"])
    assert grew["nats.the0.bot.created"] == bots > 0
    assert grew["minio.custom-bots"] == bots
    assert grew["pg.chat_messages"] > grew["pg.chat_sessions"] > 0 and grew["pg.artifacts"] > 0


@pytest.fixture()
def key(workdir: Path) -> bytes:
    return load_key(workdir)  # the key `estate seed --workdir` sealed with


def test_every_cross_store_reference_holds(seeded, key) -> None:
    env, _ = seeded
    assert verify(env, generate(SEED, 1, AS_OF), key) == []


def test_verify_notices_a_missing_object_and_a_reseed_repairs_it(seeded, key) -> None:
    env, _ = seeded
    ds = generate(SEED, 1, AS_OF)
    bot = ds.collections["bot_runner.bots"][0]
    minio_client(env, 1).remove_object("custom-bots", bot["custom"]["filePath"])
    problems = verify(env, ds, key)
    assert any(bot["custom"]["filePath"] in p for p in problems), problems
    report = seed_estate(env, key, SEED, 1, AS_OF)
    assert report.stores["minio"].result.written == 1
    assert verify(env, ds, key) == []


def test_seeding_again_changes_nothing(seeded, key) -> None:
    env, _ = seeded
    first = snapshot(env)
    report = seed_estate(env, key, SEED, 1, AS_OF)
    assert snapshot(env) == first
    assert report.stores["mongo"].result.written == 0
    assert report.stores["minio"].result.written == 0
    assert report.stores["nats"].items == 0  # no document was created, so no event is published
    # PostgreSQL replaces the dataset's own sessions (their messages cascade) inside one transaction
    assert f"replaced {len(report.dataset.tables['chat_sessions'].rows)} sessions" in report.stores["postgres"].result.note


def test_republished_creation_events_are_dropped_by_jetstream(seeded) -> None:
    """The Nats-Msg-Id of each creation event makes a retried publish a no-op inside the window."""
    from estate.seed.writers import write_nats

    env, _ = seeded
    ds = generate(SEED, 1, AS_OF)
    before = snapshot(env)
    events = [e for e in ds.events if e.subject == "the0.bot.created"]
    for e in events:  # the payload needs the segment the seed assigned
        e.doc["segment_id"] = 1
    result = write_nats(env, events)
    assert (result.written, result.kept) == (0, len(events))
    assert snapshot(env) == before


def test_bad_as_of_is_a_one_line_error(workdir: Path, cli) -> None:
    proc = cli("seed", "--as-of", "first of may", "--workdir", str(workdir))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "--as-of" in proc.stderr


def test_seeded_api_key_secrets_are_sealed_and_verify_catches_a_clear_one(seeded, key) -> None:
    env, _ = seeded
    ds = generate(SEED, 1, AS_OF)
    k = ds.api_keys[0]
    other = next(x for x in ds.api_keys if x.user_id != k.user_id)
    with adapter(env, "mongo").client(Role.app) as client:
        raw = client.bot_core.api_keys.find_one({"_id": k.doc_id})
        assert "secret" not in raw and k.secret.encode() not in bytes(raw["secret_sealed"])
        client.bot_core.api_keys.update_one({"_id": k.doc_id}, {"$set": {"secret_sealed": k.secret.encode()}})
    with adapter(env, "postgres").connect(Role.app) as conn:
        sealed = conn.execute("SELECT secret_sealed FROM exchange_api_keys WHERE api_key = %s", (k.api_key,)).fetchone()[0]
        assert k.secret.encode() not in bytes(sealed)
        conn.execute("UPDATE exchange_api_keys SET secret_sealed = %s WHERE api_key = %s", (sealed, other.api_key))
    problems = verify(env, ds, key)
    assert any("bot_core.api_keys" in p and "in clear" in p for p in problems), problems
    assert any("exchange_api_keys" in p and "does not decrypt" in p for p in problems), problems  # moved to another row
    assert not any("exchange_api_keys" in p and k.user_id in p for p in problems), problems
    with adapter(env, "mongo").client(Role.app) as client:  # a re-seed keeps existing documents, so repair by hand
        client.bot_core.api_keys.delete_one({"_id": k.doc_id})
    seed_estate(env, key, SEED, 1, AS_OF)
    assert verify(env, ds, key) == []
