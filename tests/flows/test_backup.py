"""`estate backup` / `estate restore` against the real local estate: a backup restores identically as a
separate copy, a damaged backup or a lossy restore is caught, and live data is never the target."""
from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from estate import backup
from estate.crypto import load_key
from estate.environment import Environment, Role
from estate.errors import EstateError
from estate.seed import seed_estate
from estate.stores import KINDS, adapter
from estate.stores.base import COPY_PREFIX

SEED = 11  # not test_seed's, so its before/after counts are not disturbed


@pytest.fixture(scope="module")
def seeded(migrated: Environment, workdir: Path) -> Environment:
    seed_estate(migrated, load_key(workdir), SEED, 1, datetime(2026, 11, 1, tzinfo=UTC))
    return migrated


def copies_left(env: Environment) -> list[str]:
    """Every restored copy still present in any store."""
    left = []
    with adapter(env, "postgres").connect(Role.admin) as conn:
        left += [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'estate_restore%'")]
    with adapter(env, "mongo").client(Role.admin) as client:
        left += [d for d in client.list_database_names() if d.startswith(COPY_PREFIX)]
    left += [b.name for b in adapter(env, "minio").client(Role.admin).list_buckets() if b.name.startswith("estate-restore")]
    left += [s for s in adapter(env, "nats").checksum(COPY_PREFIX)]
    return left


def test_backup_then_restore_is_identical_in_every_store(seeded, workdir, cli, tmp_path) -> None:
    dest = tmp_path / "bk"
    proc = cli("backup", "--workdir", str(workdir), "--out", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert dest.stat().st_mode & 0o777 == 0o700 and (dest / "manifest.json").stat().st_mode & 0o777 == 0o600
    manifest = json.loads((dest / "manifest.json").read_text())
    assert set(manifest["stores"]) == set(KINDS)
    units = {kind: taken["units"] for kind, taken in manifest["stores"].items()}
    assert {"chat_sessions", "exchange_api_keys", "alembic_version"} <= set(units["postgres"])
    assert {"bot_core.users", "bot_core.api_keys", "bot_runner.bots"} <= set(units["mongo"])
    assert "THE0_EVENTS" in units["nats"] and "custom-bots" in units["minio"]
    assert not any(name.startswith(("estate_probe", "estate-probe", "ESTATE_PROBE")) for u in units.values() for name in u)
    assert units == {kind: adapter(seeded, kind).checksum() for kind in KINDS}  # nothing written since

    proc = cli("restore", "--workdir", str(workdir), "--from", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("identical") == 4, proc.stdout
    assert copies_left(seeded) == []


def test_damaged_backup_is_caught_unit_by_unit(seeded, workdir, cli, tmp_path) -> None:
    dest = tmp_path / "bk"
    backup.backup(seeded, dest)
    # one changed character in a trade's symbol, still valid BSON
    trades = dest / "mongo" / "bot_core" / "trades.bson"
    raw = trades.read_bytes()
    trades.write_bytes(raw.replace(b"USDT", b"USDX", 1))
    # one changed byte in an object's content
    index = [json.loads(line) for line in (dest / "minio" / "custom-bots" / "objects.jsonl").read_text().splitlines()]
    blob = dest / "minio" / "custom-bots" / index[0]["file"]
    blob.write_bytes(b"X" + blob.read_bytes()[1:])
    # one message's payload changed
    events = dest / "nats" / "THE0_EVENTS.jsonl"
    lines = events.read_text().splitlines()
    first = json.loads(lines[0])
    first["data"] = base64.b64encode(base64.b64decode(first["data"]).replace(b"the0", b"THE0", 1)).decode()
    events.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")

    proc = cli("restore", "--workdir", str(workdir), "--from", str(dest))
    assert proc.returncode == 1
    assert proc.stdout.count("identical") == 1 and "postgres" in proc.stdout.splitlines()[0]
    assert "mongo: bot_core.trades:" in proc.stderr and "minio: custom-bots:" in proc.stderr
    assert "nats: THE0_EVENTS:" in proc.stderr
    assert proc.stderr.count("\n") == 3  # exactly the three damaged units, nothing else
    assert copies_left(seeded) == []


def test_a_lossy_restore_is_caught(seeded, tmp_path) -> None:
    """A restored copy that lost one row no longer matches the backup's checksum."""
    pg = adapter(seeded, "postgres")
    expected = pg.backup(tmp_path)
    drill = backup.restore_store(pg, tmp_path, expected, keep=True)
    assert drill.differences == []
    try:
        with pg.connect(Role.admin, dbname=COPY_PREFIX) as conn:
            conn.execute("DELETE FROM chat_messages WHERE id = (SELECT min(id) FROM chat_messages)")
            conn.execute("UPDATE exchange_api_keys SET exchange = 'kraken2' WHERE id = (SELECT min(id) FROM exchange_api_keys)")
        restored = pg.checksum(COPY_PREFIX)
    finally:
        pg.drop_copy(COPY_PREFIX)
    assert {u for u in expected if expected[u] != restored[u]} == {"chat_messages", "exchange_api_keys"}


def test_live_data_is_never_a_restore_target(seeded, workdir, cli, tmp_path) -> None:
    for kind in KINDS:
        with pytest.raises(EstateError, match="must start with 'estate_restore'"):
            adapter(seeded, kind).drop_copy("bot")
    backup.backup(seeded, tmp_path / "bk", ["postgres"])
    proc = cli("restore", "--workdir", str(workdir), "--from", str(tmp_path / "bk"), "--into", "estate")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "estate_restore" in proc.stderr
    proc = cli("restore", "--workdir", str(workdir), "--from", str(tmp_path / "bk"), "--store", "mongo")
    assert proc.returncode == 1 and "has no mongo" in proc.stderr and proc.stderr.count("\n") == 1
    proc = cli("restore", "--workdir", str(workdir), "--from", str(tmp_path))
    assert proc.returncode == 1 and "not a backup" in proc.stderr and proc.stderr.count("\n") == 1
    proc = cli("backup", "--workdir", str(workdir), "--out", str(tmp_path / "bk"))
    assert proc.returncode == 1 and "already holds a backup" in proc.stderr


def test_the_newest_complete_uploaded_backup_is_restored(seeded, workdir, cli, tmp_path) -> None:
    dest = tmp_path / "20260101T000000Z"
    proc = cli("backup", "--workdir", str(workdir), "--out", str(dest), "--upload")
    assert proc.returncode == 0, proc.stderr
    assert "uploaded to estate-backups/20260101T000000Z/" in proc.stdout
    minio = adapter(seeded, "minio")
    assert "estate-backups" not in minio.checksum()  # the backups bucket is never a unit of a backup
    # a newer upload that never finished (no manifest) is passed over
    client = minio.client(Role.admin)
    client.put_object("estate-backups", "20991231T000000Z/postgres/postgres.dump", io.BytesIO(b"partial"), 7)
    proc = cli("restore", "--workdir", str(workdir), "--latest-in", "estate-backups")
    assert proc.returncode == 0, proc.stderr
    assert "restoring estate-backups/20260101T000000Z/" in proc.stdout and proc.stdout.count("identical") == 4
    assert copies_left(seeded) == []
    proc = cli("restore", "--workdir", str(workdir), "--latest-in", "estate-backups", "--from", str(dest))
    assert proc.returncode == 1 and "exactly one of" in proc.stderr
