"""`estate load`: Locust campaigns per store with throughput and latency goals, and a scaling proof.

Each store is driven twice by closed-loop users — 1 user, then N — in a separate gevent process
(`loadtests.campaign`). A store meets its goals when, at N users, its throughput and p95 latency are
within the goal and N users give at least ``min_scaling`` times the throughput of one (concurrency
really runs in parallel rather than serialising behind one connection or the GIL).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from minio.deleteobjects import DeleteObject
from nats.js.api import StorageType, StreamConfig
from pydantic import BaseModel, ConfigDict, ValidationError

from estate.environment import Environment, Role
from estate.errors import EstateError, first_line, validation_message
from estate.stores import adapter
from estate.stores.nats import add_stream

LOAD_SCHEMA, LOAD_BUCKET, LOAD_STREAM, LOAD_SUBJECT = "estate_load", "estate-load", "ESTATE_LOAD", "estate.load.events"
# The PostgreSQL load user's statements (loadtests.users; `estate bench load` runs them without Locust too).
LOAD_INSERT_SQL = f"INSERT INTO {LOAD_SCHEMA}.events (payload) VALUES (%s) RETURNING id"
LOAD_SELECT_SQL = f"SELECT payload FROM {LOAD_SCHEMA}.events WHERE id = %s"


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_rps: float
    max_p95_ms: float


class Goals(BaseModel):
    """Per-store goals at N users (defaults sized for a 2-core machine with durable settings)."""

    model_config = ConfigDict(extra="forbid")
    postgres: Goal = Goal(min_rps=150, max_p95_ms=150)
    mongo: Goal = Goal(min_rps=150, max_p95_ms=150)
    nats: Goal = Goal(min_rps=150, max_p95_ms=150)
    minio: Goal = Goal(min_rps=50, max_p95_ms=300)
    min_scaling: float = 1.5

    @classmethod
    def load(cls, path: Path | None) -> "Goals":
        if path is None:
            return cls()
        try:
            return cls.model_validate(yaml.safe_load(path.read_text()) or {})
        except FileNotFoundError:
            raise EstateError(f"no goals file at {path}") from None
        except yaml.YAMLError as exc:
            raise EstateError(f"bad goals file {path}: {first_line(exc)}") from None
        except ValidationError as exc:
            raise EstateError(f"bad goals file {path}: {validation_message(exc)}") from None


def prepare(env: Environment, stores: list[str]) -> None:
    """Create what the load users write to: a schema, a collection, a bucket, a stream."""
    if "postgres" in stores:
        with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {LOAD_SCHEMA}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {LOAD_SCHEMA}.events "
                         "(id bigserial PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz DEFAULT now())")
            app = env.store("postgres").credential(Role.app).username
            conn.execute(f'GRANT USAGE ON SCHEMA {LOAD_SCHEMA} TO "{app}"')
            conn.execute(f'GRANT SELECT, INSERT ON {LOAD_SCHEMA}.events TO "{app}"')
            conn.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA {LOAD_SCHEMA} TO "{app}"')
    if "minio" in stores:
        client = adapter(env, "minio").client(Role.app)
        if not client.bucket_exists(LOAD_BUCKET):
            client.make_bucket(LOAD_BUCKET)
    if "nats" in stores:
        nt = adapter(env, "nats")

        async def stream() -> None:
            nc = await nt.connect(Role.app)
            cfg = StreamConfig(name=LOAD_STREAM, subjects=[LOAD_SUBJECT], storage=StorageType.FILE,
                               num_replicas=min(3, len(nt.store.endpoints)), max_bytes=1 << 30)
            try:
                await add_stream(nc.jetstream(), cfg)
            finally:
                await nc.close()

        nt.run(stream)


def cleanup(env: Environment, stores: list[str]) -> None:
    """Remove everything `prepare` made and the users wrote."""
    if "postgres" in stores:
        with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {LOAD_SCHEMA} CASCADE")
    if "mongo" in stores:
        with adapter(env, "mongo").client(Role.app) as c:
            c.drop_database(LOAD_SCHEMA)
    if "minio" in stores:
        client = adapter(env, "minio").client(Role.app)
        if client.bucket_exists(LOAD_BUCKET):
            objs = (DeleteObject(o.object_name) for o in client.list_objects(LOAD_BUCKET, recursive=True))
            for err in client.remove_objects(LOAD_BUCKET, objs):
                raise EstateError(f"minio cleanup: {err}")
            client.remove_bucket(LOAD_BUCKET)
    if "nats" in stores:
        nt = adapter(env, "nats")

        async def drop() -> None:
            nc = await nt.connect(Role.app)
            try:
                await nc.jetstream().delete_stream(LOAD_STREAM)
            except Exception:  # absent already
                pass
            finally:
                await nc.close()

        nt.run(drop)


def campaign(env_file: Path, store: str, users: int, seconds: float, workers: int = 0) -> dict:
    """One Locust campaign of ``store``'s user in its own process (a master and ``workers`` worker processes)."""
    proc = subprocess.run(
        [sys.executable, "-m", "loadtests.campaign", "--store", store, "--users", str(users), "--seconds", str(seconds),
         "--workers", str(workers)],
        capture_output=True, text=True, env={**os.environ, "ESTATE_ENVIRONMENT_FILE": str(env_file)},
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
        raise EstateError(f"load campaign for {store} failed: {lines[-1][:300]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def judge(store: str, single: dict, many: dict, goals: Goals) -> list[str]:
    """The goals a store misses (empty when it meets them all)."""
    goal: Goal = getattr(goals, store)
    misses = []
    if many["errors"] or any(op["failures"] for op in many["operations"].values()):
        misses.append(f"failures: {many['errors'][:1]}")
    if many["total_rps"] < goal.min_rps:
        misses.append(f"{many['total_rps']:.0f} ops/s < goal {goal.min_rps:.0f}")
    worst_p95 = max((op["p95_ms"] for op in many["operations"].values()), default=0)
    if worst_p95 > goal.max_p95_ms:
        misses.append(f"p95 {worst_p95:.0f} ms > goal {goal.max_p95_ms:.0f} ms")
    scaling = many["total_rps"] / single["total_rps"] if single["total_rps"] else 0
    if scaling < goals.min_scaling:
        misses.append(f"{many['users']} users give {scaling:.2f}x one user's throughput < {goals.min_scaling}x")
    return misses
