"""Least privilege, tried: a grant widened by hand (INSERT to readonly, SUPERUSER or CREATEROLE to app, a
MinIO policy attached, NATS publish allowed to readonly) makes the check FAIL naming what was accepted;
taken back, it holds again."""
from __future__ import annotations

import json
import os
import signal
import time
from contextlib import contextmanager

from checks import Outcome
from estate.environment import Environment, Role
from estate.local import LocalEstate
from estate.stores import adapter
from tests.verify.planted import fails_naming, holds, pg_admin, result, seeded  # noqa: F401  (fixture)

READONLY, APP_DDL, SUPER = "readonly cannot write", "app cannot change schema or drop", "no role but admin is superuser"


def test_a_healthy_estate_holds(seeded: Environment) -> None:
    for kind, name in (("postgres", READONLY), ("postgres", APP_DDL), ("postgres", SUPER), ("minio", READONLY),
                       ("minio", APP_DDL), ("minio", SUPER), ("nats", READONLY)):
        holds(seeded, kind, name)
    if seeded.store("mongo").server == "ferretdb":
        for name in (READONLY, SUPER):
            res = result(seeded, "mongo", name)
            assert res.outcome == Outcome.unsupported and "does not enforce roles" in res.detail


@contextmanager
def pg_sql(env: Environment, plant: str, take_back: str):
    with pg_admin(env) as conn:
        conn.execute(plant)
    try:
        yield
    finally:
        with pg_admin(env) as conn:
            conn.execute(take_back)


def test_readonly_granted_insert_fails(seeded: Environment) -> None:
    with pg_sql(seeded, "GRANT INSERT, DELETE ON chat_sessions TO readonly", "REVOKE INSERT, DELETE ON chat_sessions FROM readonly"):
        res = fails_naming(seeded, "postgres", READONLY, "postgres readonly INSERT on public.chat_sessions: declared refused, live accepted",
                           "postgres readonly DELETE on public.chat_sessions: declared refused, live accepted")
        assert not any("UPDATE" in line for line in res.differences)  # only what was granted
    holds(seeded, "postgres", READONLY)


def test_readonly_made_member_of_pg_write_all_data_fails(seeded: Environment) -> None:
    with pg_sql(seeded, "GRANT pg_write_all_data TO readonly", "REVOKE pg_write_all_data FROM readonly"):
        fails_naming(seeded, "postgres", SUPER, "postgres role readonly member of pg_write_all_data: declared no, live yes")
        fails_naming(seeded, "postgres", READONLY, "postgres readonly UPDATE on public.chat_messages")
    holds(seeded, "postgres", SUPER)
    holds(seeded, "postgres", READONLY)


def test_app_made_superuser_fails(seeded: Environment) -> None:
    with pg_sql(seeded, "ALTER ROLE app SUPERUSER CREATEROLE", "ALTER ROLE app NOSUPERUSER NOCREATEROLE"):
        fails_naming(seeded, "postgres", SUPER, "postgres role app superuser: declared no, live yes",
                     "postgres role app createrole: declared no, live yes")
        fails_naming(seeded, "postgres", APP_DDL, "postgres app CREATE TABLE in public: declared refused, live accepted",
                     "postgres app DROP TABLE public.chat_sessions: declared refused, live accepted")
    holds(seeded, "postgres", SUPER)
    holds(seeded, "postgres", APP_DDL)
    with pg_admin(seeded) as conn:  # the attempts were rolled back: nothing was created or dropped
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'estate_probe_ddl%'").fetchone()[0] == 0
        assert conn.execute("SELECT to_regclass('public.chat_sessions') IS NOT NULL").fetchone()[0]


def test_app_granted_create_on_schema_fails(seeded: Environment) -> None:
    with pg_sql(seeded, "GRANT CREATE ON SCHEMA public TO app", "REVOKE CREATE ON SCHEMA public FROM app"):
        res = fails_naming(seeded, "postgres", APP_DDL, "postgres app CREATE TABLE in public: declared refused, live accepted")
        assert not any("DROP TABLE" in line for line in res.differences)
    holds(seeded, "postgres", APP_DDL)


@contextmanager
def minio_policy(env: Environment, role: Role, policy: str):
    admin = adapter(env, "minio").admin()
    user = env.store("minio").credential(role).username
    admin.attach_policy([policy], user=user)
    try:
        yield
    finally:
        admin.detach_policy([policy], user=user)


def test_readonly_given_readwrite_fails(seeded: Environment) -> None:
    with minio_policy(seeded, Role.readonly, "readwrite"):
        fails_naming(seeded, "minio", READONLY, "minio estate-readonly PutObject on custom-bots: declared refused, live accepted",
                     "minio estate-readonly DeleteObject on custom-bots", "minio estate-readonly CreateBucket")
    holds(seeded, "minio", READONLY)
    client = adapter(seeded, "minio").client(Role.admin)  # the accepted put was removed again
    assert not list(client.list_objects("custom-bots", prefix="estate-verify/", include_version=True))


def test_app_given_console_admin_fails(seeded: Environment) -> None:
    with minio_policy(seeded, Role.app, "consoleAdmin"):
        fails_naming(seeded, "minio", SUPER, "minio user estate-app policy consoleAdmin grants admin actions")
        fails_naming(seeded, "minio", APP_DDL, "minio estate-app DeleteBucket: declared refused, live accepted",
                     "minio estate-app PutBucketPolicy: declared refused, live accepted")
    holds(seeded, "minio", SUPER)
    holds(seeded, "minio", APP_DDL)


@contextmanager
def nats_configs(local_estate: LocalEstate, old: str, new: str):
    """Rewrite every server's config and reload it (SIGHUP), as an operator would; then put back."""
    confs = sorted(local_estate.nats.root.glob("n*.conf"))
    originals = {c: c.read_text() for c in confs}

    def reload(texts: dict) -> None:
        for conf, text in texts.items():
            conf.write_text(text)
        for proc in local_estate.nats.processes():
            os.kill(proc.pid(), signal.SIGHUP)
        time.sleep(1.5)

    assert all(old in text for text in originals.values())
    reload({c: t.replace(old, new) for c, t in originals.items()})
    try:
        yield
    finally:
        reload(originals)


def test_readonly_allowed_to_publish_fails(local_estate: LocalEstate, seeded: Environment) -> None:
    conf = next(local_estate.nats.root.glob("n*.conf")).read_text()
    publish = conf[conf.index('"publish": {"allow": ['):].split("]", 1)[0] + "]"
    assert json.loads("{" + publish + "}}")  # the readonly user's declared publish allowance
    with nats_configs(local_estate, publish, '"publish": {"allow": [">"]'):
        fails_naming(seeded, "nats", READONLY, "nats readonly stream delete: declared refused, live accepted",
                     "nats readonly stream create: declared refused, live accepted")
    holds(seeded, "nats", READONLY, within=5)
