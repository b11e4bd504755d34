"""PostgreSQL migrations: downgrade/upgrade, grants, sealed API key secrets."""
from __future__ import annotations

import psycopg
import pytest

from estate import api_keys
from estate.crypto import load_key
from estate.environment import Role
from estate.errors import EstateError
from estate.migrations import migrate
from estate.migrations.postgres_store import current
from estate.stores import adapter


def _tables(env) -> set[str]:
    with adapter(env, "postgres").connect(Role.admin) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_downgrade_then_upgrade(migrated):
    env = migrated
    assert current(env) == "0002_exchange_api_keys"
    steps = migrate(env, ["postgres"], downgrade="base")
    assert [s.status for s in steps] == ["downgraded", "downgraded"]
    assert current(env) is None and not {"chat_sessions", "exchange_api_keys"} & _tables(env)
    steps = migrate(env, ["postgres"])
    assert [s.status for s in steps] == ["applied", "applied"]
    assert {"chat_sessions", "chat_messages", "artifacts", "settings", "exchange_api_keys"} <= _tables(env)


def test_readonly_cannot_insert_app_can(migrated):
    pg = adapter(migrated, "postgres")
    with pg.connect(Role.app) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES ('mig-test', 'x') ON CONFLICT (key) DO NOTHING")
    with pg.connect(Role.readonly) as conn:
        assert conn.execute("SELECT value FROM settings WHERE key = 'mig-test'").fetchone() == ("x",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO settings (key, value) VALUES ('ro', 'y')")
    with pg.connect(Role.app) as conn:
        conn.execute("DELETE FROM settings WHERE key = 'mig-test'")


def test_api_key_secret_is_sealed_at_rest(migrated, tmp_path):
    key = load_key(tmp_path)
    assert (tmp_path / "secrets" / "secret.key").stat().st_mode & 0o777 == 0o600
    plaintext = "sk-live-PLAINTEXT-7f3a9c"
    api_key = f"ak-{tmp_path.name}"
    with adapter(migrated, "postgres").connect(Role.app) as conn:
        row_id = api_keys.put_pg(conn, key, user_id="u1", exchange="binance", api_key=api_key, secret=plaintext)
        raw = conn.execute("SELECT secret_sealed FROM exchange_api_keys WHERE id = %s", (row_id,)).fetchone()[0]
        dump = conn.execute("SELECT encode(secret_sealed, 'escape') FROM exchange_api_keys WHERE id = %s",
                            (row_id,)).fetchone()[0]
    assert plaintext.encode() not in bytes(raw) and plaintext not in dump
    assert api_keys.open_pg(key, "u1", "binance", api_key, raw) == plaintext
    with pytest.raises(EstateError, match="does not decrypt"):  # bound to its row's natural key
        api_keys.open_pg(key, "u2", "binance", api_key, raw)
    with adapter(migrated, "postgres").connect(Role.readonly) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT secret_sealed FROM exchange_api_keys")
    with adapter(migrated, "postgres").connect(Role.app) as conn:  # sealed with a test key: not the estate's
        conn.execute("DELETE FROM exchange_api_keys WHERE id = %s", (row_id,))
