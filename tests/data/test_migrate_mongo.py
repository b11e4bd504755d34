"""MongoDB migration runner: ledger with checksums, the changed-migration guard, capability skips."""
from __future__ import annotations

import pytest

from estate.environment import Role
from estate.errors import EstateError
from estate.migrations import mongo_store
from estate.migrations.mongo.versions import MIGRATIONS
from estate.stores import adapter


def _ledger(env):
    return adapter(env, "mongo").client(Role.admin)[mongo_store.LEDGER_DB][mongo_store.LEDGER]


def test_ledger_and_schema(migrated):
    ledger = {d["_id"]: d for d in _ledger(migrated).find()}
    assert [v for v, _ in MIGRATIONS] == sorted(ledger)
    for version, fn in MIGRATIONS:
        assert ledger[version]["checksum"] == mongo_store.checksum(fn)
    lacks = migrated.store("mongo").lacks()
    recorded = [s for d in ledger.values() for s in d["skipped_for_capability"]]
    # each skip names a declared lacking capability or what the server answered when probed
    assert all(any(c in s for c in lacks) or "not implemented" in s or "accepted, not kept" in s for s in recorded), recorded
    if "json_schema_validation" in lacks:
        assert any("validator" in s for s in recorded)
    client = adapter(migrated, "mongo").client(Role.admin)
    names = {i["name"] for i in client.bot_runner.bots.list_indexes()}
    assert {"id_unique", "segment_slot_unique"} <= names
    assert client.bot_core.system_config.find_one({"_id": "maintenance_mode"})["value"] is False
    try:
        with pytest.raises(Exception, match="duplicate key|E11000"):
            client.bot_runner.bots.insert_many([{"id": "dup-x", "user_id": "u"}, {"id": "dup-x", "user_id": "u"}])
    finally:
        client.bot_runner.bots.delete_many({"id": "dup-x"})


def test_changed_migration_is_refused(migrated):
    def m002_bot_core(ctx) -> None:
        """bot_core, edited after it was applied"""
        ctx.client["bot_core"]["should_not_exist"].insert_one({})

    with pytest.raises(EstateError, match="002_bot_core changed after it was applied"):
        mongo_store.migrate(migrated, [MIGRATIONS[0], ("002_bot_core", m002_bot_core)])
    client = adapter(migrated, "mongo").client(Role.admin)
    assert "should_not_exist" not in client.bot_core.list_collection_names()


def test_new_migration_runs_once(migrated):
    def m900_probe(ctx) -> None:
        """probe collection"""
        ctx.client["bot_core"]["mig_probe"].insert_one({"n": 1})

    try:
        runs = [mongo_store.migrate(migrated, [*MIGRATIONS, ("900_probe", m900_probe)]) for _ in range(2)]
        assert [s.status for s in runs[0] if s.what.startswith("900")] == ["applied"]
        assert [s.status for s in runs[1] if s.what.startswith("900")] == ["already applied"]
        assert adapter(migrated, "mongo").client(Role.admin).bot_core.mig_probe.count_documents({}) == 1
    finally:
        _ledger(migrated).delete_one({"_id": "900_probe"})
