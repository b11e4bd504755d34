"""Drift: each store compared with its declaration. Drift planted by hand, as an operator or an incident
would, makes "matches its declaration" FAIL naming it and `estate migrate --check` exit 1 naming it
(changing nothing); taken back, both hold again. A healthy, migrated (twice) and seeded estate has none."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import pytest
from minio.versioningconfig import SUSPENDED, VersioningConfig

from checks import Outcome, run_checks
from estate.environment import Environment, Role
from estate.flows.bot_runner import DURABLE
from estate.migrations import migrate
from estate.flows.bot_runner import consumer_config
from estate.seed.writers import STREAM
from estate.stores import adapter

CHECK, LACKS = "matches its declaration", "declared features the server lacks"


def estate(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estate", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def seeded(local_estate, env: Environment) -> tuple[Environment, str]:
    """The session estate migrated twice and seeded, as a user does it; (env, work dir)."""
    workdir = str(local_estate.layout.workdir)
    runs = [estate("migrate", "--workdir", workdir) for _ in range(2)]
    assert [p.returncode for p in runs] == [0, 0], runs[-1].stderr
    second = [line.split()[1] for line in runs[1].stdout.splitlines() if line.strip()]
    assert set(second) <= {"already", "skipped"}, runs[1].stdout  # migrating again changes nothing
    seed = estate("seed", "--scale", "1", "--seed", "7", "--as-of", "2026-11-01", "--workdir", workdir)
    assert seed.returncode == 0, seed.stderr
    return env, workdir


def result(env: Environment, kind: str, name: str = CHECK):
    """Run the one check ``name`` of store ``kind`` through the runner."""
    only_store = env.model_copy(update={"stores": {kind: env.stores[kind]}})
    [res] = run_checks(only_store, only={name})
    return res


def assert_fails_naming(env: Environment, kind: str, expected: list[str]) -> None:
    res = result(env, kind)
    assert res.outcome == Outcome.fails, (res.outcome, res.detail)
    for line in expected:
        assert line in res.differences, (line, res.differences)


def assert_holds(env: Environment, kind: str) -> None:
    res = result(env, kind)
    assert res.outcome == Outcome.holds, (res.detail, res.differences)


# --- a healthy estate: no false alarms ------------------------------------------------------------

def test_healthy_estate_has_no_drift(seeded) -> None:
    env, workdir = seeded
    for kind in ("postgres", "mongo", "nats", "minio"):
        assert_holds(env, kind)
    proc = estate("migrate", "--check", "--workdir", workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no drift from the declaration in postgres, nats, minio, mongo" in proc.stdout
    assert not [line for line in proc.stdout.splitlines() if line.startswith("drift")], proc.stdout


def test_features_the_server_lacks_are_unsupported_not_passed(seeded) -> None:
    env, workdir = seeded
    res = result(env, "mongo", LACKS)
    lacks = env.store("mongo").lacks()
    if not lacks:
        assert res.outcome == Outcome.holds, res.detail
        return
    assert res.outcome == Outcome.unsupported, res.detail
    for item in ("bot_core.sessions TTL on expires_at (server lacks ttl_indexes)",
                 "bot_core.positions unique open position per symbol (partial index) (server lacks partial_indexes)",
                 "bot_core.market_data as time-series (server lacks time_series)",
                 "bot_core.users validator (server lacks json_schema_validation)"):
        assert item in res.detail, (item, res.detail)
    proc = estate("migrate", "--check", "--store", "mongo", "--workdir", workdir)
    assert proc.returncode == 0 and "unsupported mongo bot_core.sessions TTL on expires_at" in proc.stdout, proc.stdout


# --- planted drift, one store at a time ------------------------------------------------------------

@dataclass
class Plant:
    name: str
    plant: Callable[[Environment], None]
    undo: Callable[[Environment], None]
    expected: list[str]


def pg(*statements: str) -> Callable[[Environment], None]:
    def run(env: Environment) -> None:
        with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
    return run


FK = ("ALTER TABLE artifacts DROP CONSTRAINT fk_artifacts_session_id, ADD CONSTRAINT fk_artifacts_session_id "
      "FOREIGN KEY (session_id) REFERENCES chat_sessions(id) ON DELETE {}")
CRUD = "DELETE, INSERT, SELECT, UPDATE"
POSTGRES = [
    Plant("drop an index", pg("DROP INDEX ix_chat_sessions_user_id"),
          pg("CREATE INDEX ix_chat_sessions_user_id ON chat_sessions (user_id)"),
          ["postgres table chat_sessions index on (user_id): declared ix_chat_sessions_user_id (user_id), live absent"]),
    Plant("nullability", pg("ALTER TABLE chat_messages ALTER COLUMN role DROP NOT NULL"),
          pg("ALTER TABLE chat_messages ALTER COLUMN role SET NOT NULL"),
          ["postgres table chat_messages column role nullable: declared False, live True"]),
    Plant("column type", pg("ALTER TABLE artifacts ALTER COLUMN version TYPE bigint"),
          pg("ALTER TABLE artifacts ALTER COLUMN version TYPE integer"),
          ["postgres table artifacts column version type: declared INTEGER, live BIGINT"]),
    Plant("foreign key ON DELETE", pg(FK.format("RESTRICT")), pg(FK.format("CASCADE")),
          ["postgres table artifacts foreign key on (session_id): declared (session_id) REFERENCES "
           "chat_sessions(id) ON DELETE CASCADE, live (session_id) REFERENCES chat_sessions(id) ON DELETE RESTRICT"]),
    Plant("unique constraint dropped", pg("ALTER TABLE settings DROP CONSTRAINT uq_settings_key"),
          pg("ALTER TABLE settings ADD CONSTRAINT uq_settings_key UNIQUE (key)"),
          ["postgres table settings unique constraint on (key): declared uq_settings_key (key) UNIQUE, live absent"]),
    Plant("server default", pg("ALTER TABLE chat_sessions ALTER COLUMN is_active SET DEFAULT false"),
          pg("ALTER TABLE chat_sessions ALTER COLUMN is_active SET DEFAULT true"),
          ["postgres table chat_sessions column is_active default: declared true, live false"]),
    Plant("GRANT INSERT to readonly", pg("GRANT INSERT ON chat_sessions TO readonly"),
          pg("REVOKE INSERT ON chat_sessions FROM readonly"),
          ["postgres table chat_sessions privileges of readonly: declared SELECT, live INSERT, SELECT"]),
    Plant("REVOKE SELECT from app", pg("REVOKE SELECT ON settings FROM app"), pg("GRANT SELECT ON settings TO app"),
          [f"postgres table settings privileges of app: declared {CRUD}, live DELETE, INSERT, UPDATE"]),
    Plant("grant to PUBLIC and on a sealed column",
          pg("GRANT SELECT ON exchange_api_keys_id_seq TO PUBLIC",
             "GRANT SELECT (secret_sealed) ON exchange_api_keys TO readonly"),
          pg("REVOKE SELECT ON exchange_api_keys_id_seq FROM PUBLIC",
             "REVOKE SELECT (secret_sealed) ON exchange_api_keys FROM readonly"),
          ["postgres sequence exchange_api_keys_id_seq privileges of PUBLIC: declared none, live SELECT",
           "postgres column exchange_api_keys.secret_sealed privileges of readonly: declared none, live SELECT"]),
]


def mongo(db: str, coll: str, action: Callable) -> Callable[[Environment], None]:
    def run(env: Environment) -> None:
        with adapter(env, "mongo").client(Role.admin) as client:
            action(client[db][coll])
    return run


def recreate(name: str, keys: list, **opts) -> Callable:
    def run(coll) -> None:
        coll.drop_index(name)
        coll.create_index(keys, name=name, **opts)
    return run


MONGO = [
    Plant("drop an index", mongo("bot_core", "users", lambda c: c.drop_index("email_1")),
          mongo("bot_core", "users", lambda c: c.create_index([("email", 1)], unique=True)),
          ["mongo bot_core.users index email_1: declared {email: 1} unique=True, live absent"]),
    Plant("unique -> non-unique", mongo("bot_core", "users", recreate("username_1", [("username", 1)])),
          mongo("bot_core", "users", recreate("username_1", [("username", 1)], unique=True)),
          ["mongo bot_core.users index username_1 unique: declared True, live False"]),
    Plant("compound key order", mongo("backtest_runner", "backtests",
                                      recreate("user_id_1_created_at_-1", [("created_at", -1), ("user_id", 1)])),
          mongo("backtest_runner", "backtests", recreate("user_id_1_created_at_-1", [("user_id", 1), ("created_at", -1)])),
          ["mongo backtest_runner.backtests index user_id_1_created_at_-1 keys: declared {user_id: 1, created_at: -1}, "
           "live {created_at: -1, user_id: 1}"]),
    Plant("extra index", mongo("bot_core", "trades", lambda c: c.create_index([("side", 1)])),
          mongo("bot_core", "trades", lambda c: c.drop_index("side_1")),
          ["mongo bot_core.trades index side_1: declared absent, live {side: 1}"]),
    Plant("capped collection replaced by a plain one", mongo("bot_core", "audit_logs", lambda c: (
        c.rename("audit_logs_aside"), c.database.create_collection("audit_logs"))),
          mongo("bot_core", "audit_logs", lambda c: (c.drop(), c.database.audit_logs_aside.rename("audit_logs"))),
          ["mongo bot_core.audit_logs capped: declared (268435456, 1000000), live none",
           "mongo bot_core.audit_logs index user_id_1_created_at_-1: declared {user_id: 1, created_at: -1}, live absent"]),
    Plant("collection gone", mongo("bot_core", "paper_trading_settings", lambda c: c.rename("paper_trading_settings_aside")),
          mongo("bot_core", "paper_trading_settings_aside", lambda c: c.rename("paper_trading_settings")),
          ["mongo bot_core.paper_trading_settings collection: declared present, live absent"]),
]


def jetstream(change: Callable) -> Callable[[Environment], None]:
    def run(env: Environment) -> None:
        nats = adapter(env, "nats")

        async def go() -> None:
            nc = await nats.connect(Role.admin)
            try:
                await change(nc.jetstream())
            finally:
                await nc.close()

        nats.run(go)
    return run


def stream_update(**fields) -> Callable:
    async def change(js) -> None:
        cfg = (await js.stream_info(STREAM)).config
        for key, value in fields.items():
            setattr(cfg, key, value)
        await js.update_stream(cfg)
    return change


def consumer_update(**fields) -> Callable:
    async def change(js) -> None:
        await js.add_consumer(STREAM, dataclasses.replace(consumer_config(), **fields))
    return change


def remigrate(kind: str, statuses: set[str]) -> Callable[[Environment], None]:
    """Take drift back with `estate migrate`, which must say it corrected it."""
    def run(env: Environment) -> None:
        steps = migrate(env, [kind])
        assert statuses <= {s.status for s in steps}, steps
    return run


NATS = [
    Plant("max_age", jetstream(stream_update(max_age=3600)), remigrate("nats", {"corrected"}),
          [f"nats stream {STREAM} max_age: declared 604800, live 3600.0"]),
    Plant("replicas and duplicate window", jetstream(stream_update(num_replicas=1, duplicate_window=30)),
          remigrate("nats", {"corrected"}),
          [f"nats stream {STREAM} num_replicas: declared 3, live 1",
           f"nats stream {STREAM} duplicate_window: declared 120, live 30.0"]),
    Plant("consumer settings", jetstream(consumer_update(ack_wait=30, max_deliver=5)), remigrate("nats", {"corrected"}),
          [f"nats consumer {STREAM}/{DURABLE} ack_wait: declared 10, live 30.0",
           f"nats consumer {STREAM}/{DURABLE} max_deliver: declared -1, live 5"]),
    Plant("consumer deleted", jetstream(lambda js: js.delete_consumer(STREAM, DURABLE)), remigrate("nats", {"applied"}),
          [f"nats consumer {STREAM}/{DURABLE}: declared present, live absent"]),
]


def minio(action: Callable) -> Callable[[Environment], None]:
    def run(env: Environment) -> None:
        mc = adapter(env, "minio")
        action(mc.client(Role.admin), mc.admin())
    return run


PUBLIC_READ = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::ai-artifacts/*"]},
    {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::ai-artifacts"]}]})
MINIO = [
    Plant("versioning suspended", minio(lambda c, _: c.set_bucket_versioning("bot-code", VersioningConfig(SUSPENDED))),
          remigrate("minio", {"applied"}), ["minio bucket bot-code versioning: declared Enabled, live Suspended"]),
    Plant("default encryption removed", minio(lambda c, _: c.delete_bucket_encryption("custom-bots")),
          remigrate("minio", {"applied"}), ["minio bucket custom-bots encryption: declared SSE-S3, live none"]),
    Plant("lifecycle removed", minio(lambda c, _: c.delete_bucket_lifecycle("logs")), remigrate("minio", {"applied"}),
          ["minio bucket logs lifecycle: declared expire Enabled prefix (all) current 30d; noncurrent Enabled "
           "prefix (all) noncurrent 7d, live none"]),
    Plant("public-read policy", minio(lambda c, _: c.set_bucket_policy("ai-artifacts", PUBLIC_READ)),
          remigrate("minio", {"applied"}),
          ['minio bucket ai-artifacts policy: declared none (private), live Allow {"AWS": ["*"]} [\'s3:GetObject\']; '
           'Allow {"AWS": ["*"]} [\'s3:ListBucket\']',
           "minio bucket ai-artifacts anonymous access: declared refused, live allowed: list (HTTP 200), get (HTTP 404)"]),
    Plant("quota set", minio(lambda _, admin: admin.bucket_quota_set("backtest-results", 1 << 30)),
          remigrate("minio", {"applied"}), ["minio bucket backtest-results quota: declared none, live 1073741824 bytes"]),
]

PLANTS = {"postgres": POSTGRES, "mongo": MONGO, "nats": NATS, "minio": MINIO}
CASES = [pytest.param(kind, p, id=f"{kind}: {p.name}") for kind, plants in PLANTS.items() for p in plants]


@pytest.mark.parametrize(("kind", "plant"), CASES)
def test_planted_drift_fails_naming_it(seeded, kind: str, plant: Plant) -> None:
    env, _ = seeded
    plant.plant(env)
    try:
        assert_fails_naming(env, kind, plant.expected)
    finally:
        plant.undo(env)
    assert_holds(env, kind)


@pytest.mark.parametrize("kind", list(PLANTS))
def test_migrate_check_exits_1_naming_drift_and_changes_nothing(seeded, kind: str) -> None:
    env, workdir = seeded
    plant = PLANTS[kind][0]
    plant.plant(env)
    try:
        runs = [estate("migrate", "--check", "--store", kind, "--workdir", workdir) for _ in range(2)]
        for proc in runs:  # the second run sees the same drift: the first changed nothing
            assert proc.returncode == 1, proc.stdout + proc.stderr
            for line in plant.expected:
                assert f"drift       {line}" in proc.stdout, (line, proc.stdout)
        assert runs[0].stdout == runs[1].stdout
    finally:
        plant.undo(env)
    proc = estate("migrate", "--check", "--store", kind, "--workdir", workdir)
    assert proc.returncode == 0 and f"no drift from the declaration in {kind}" in proc.stdout, proc.stdout + proc.stderr
