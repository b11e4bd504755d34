"""`estate status` shows the MongoDB migration steps the ledger records as skipped for a lacking capability."""
from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from estate.cli import app
from estate.environment import Role
from estate.migrations import mongo_store
from estate.stores import adapter


def test_status_lists_recorded_skips(migrated, local_estate):
    with adapter(migrated, "mongo").client(Role.admin) as client:
        ledger = list(client[mongo_store.LEDGER_DB][mongo_store.LEDGER].find())
    recorded = [(d["_id"], s) for d in ledger for s in d["skipped_for_capability"]]
    proc = subprocess.run([sys.executable, "-m", "estate", "status", "--workdir", str(local_estate.layout.workdir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    if migrated.store("mongo").lacks():  # FerretDB: the migrations did skip steps
        assert recorded and f"{len(recorded)} step(s) skipped for a lacking capability" in out, out
        for version, s in recorded:
            step, _, why = s.partition(": server lacks ")
            assert f"skipped {version}: {step} (server lacks {why})" in out, (s, out)
        assert "json_schema_validation" in out and "ttl_indexes" in out
    else:
        assert not recorded and "no step skipped for a lacking capability" in out, out


def test_status_says_not_migrated_without_a_ledger(env, local_estate, monkeypatch):
    monkeypatch.setattr(mongo_store, "LEDGER", "_no_migrations_here")
    result = CliRunner().invoke(app, ["status", "--workdir", str(local_estate.layout.workdir)])
    assert result.exit_code == 0, result.output
    assert "mongo migrations: not migrated" in result.output, result.output
    assert "skipped for a lacking capability" not in result.output
