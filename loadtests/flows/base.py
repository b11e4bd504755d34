"""What every flow user shares: the run it belongs to, measured operations, the store clients, the ledger.

A campaign is one *run*: every row, document, object and event a flow writes carries the run's user
id (an ObjectId, as the seed's users have), so reconciliation and cleanup find exactly the run's data.
The run id and directory come from Locust's custom arguments (``--estate-run-id``, ``--estate-run-dir``),
which a master sends to its workers. Each process keeps a ledger of acknowledged writes and a per-second
timeline of every request; both are written to the run directory when the test stops.
"""
from __future__ import annotations

import locust  # noqa: F401  first: gevent patches select before psycopg/pymongo are imported

import json
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from bson import ObjectId
from locust import User, constant, events
from locust.exception import RescheduleTask

from estate.environment import Role
from estate.stores.minio import MinioAdapter
from estate.stores.mongo import MongoAdapter
from estate.stores.postgres import PostgresAdapter
from loadtests.users import environment, nats_bridge


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:
    parser.add_argument("--estate-profile", default="baseline", help="load profile (name or YAML path)")
    parser.add_argument("--estate-run-id", default="", help="the run's user id (ObjectId hex); a fresh one if empty")
    parser.add_argument("--estate-run-dir", default="", help="where ledgers and timelines go (none if empty)")


_fallback_run = str(ObjectId())


def run_id(env) -> str:
    opts = env.parsed_options
    return (getattr(opts, "estate_run_id", "") if opts else "") or _fallback_run


def run_dir(env) -> Path | None:
    value = getattr(env.parsed_options, "estate_run_dir", "") if env.parsed_options else ""
    return Path(value) if value else None


# --- per-process ledger of acknowledged writes and per-second timeline of requests -------------------

LEDGER: list[dict] = []
TIMELINE: dict[tuple[str, int], list] = defaultdict(lambda: [0, 0, []])  # (name, second) -> [n, failures, ms...]


def acknowledged(kind: str, **fields) -> None:
    LEDGER.append({"kind": kind, **fields})


@events.request.add_listener
def _timeline(name, response_time, exception=None, **_kw) -> None:
    slot = TIMELINE[(name, int(time.time()))]
    slot[0] += 1
    slot[1] += exception is not None
    slot[2].append(response_time)


@events.test_stop.add_listener
def _write_process_records(environment, **_kw) -> None:
    folder = run_dir(environment)
    if folder is None or not TIMELINE:
        return
    pid = os.getpid()
    with open(folder / f"ledger-{pid}.jsonl", "a") as fh:
        fh.writelines(json.dumps(entry) + "\n" for entry in LEDGER)
    (folder / f"timeline-{pid}.json").write_text(json.dumps(
        [[name, second, n, fails, sorted(ms)] for (name, second), (n, fails, ms) in sorted(TIMELINE.items())]))
    LEDGER.clear()
    TIMELINE.clear()


# --- clients -------------------------------------------------------------------------------------

@cache
def seeded() -> dict:
    """What the seed left to read (ids, the candles' time span), looked up once per process."""
    with MongoAdapter(environment()).client(Role.app) as client:
        core = client["bot_core"]
        last = core["market_data"].find_one({}, sort=[("timestamp", -1)])
        first = core["market_data"].find_one({}, sort=[("timestamp", 1)])
        traders = sorted({d["user_id"] for d in core["trades"].find({}, {"user_id": 1}).limit(500)})
        bots = list(client["bot_runner"]["bots"].find({}, {"_id": 1, "user_id": 1, "config.settings": 1}).limit(200))
    with PostgresAdapter(environment()).connect(Role.app) as conn:
        sessions = [r[0] for r in conn.execute("SELECT id FROM chat_sessions ORDER BY id LIMIT 500")]
    if not (first and traders and bots and sessions):
        raise RuntimeError("the estate is not seeded: run `estate migrate` and `estate seed` first")
    return {"candles": (first["timestamp"], last["timestamp"]), "traders": traders, "bots": bots, "sessions": sessions}


class FlowUser(User):
    """A closed-loop user of one flow family; subclasses set ``flow`` and define tasks."""

    abstract = True
    wait_time = constant(0)
    flow = ""

    def on_start(self) -> None:
        self.run_id = run_id(self.environment)
        self._pg = self._mongo = self._minio = None

    def on_stop(self) -> None:
        if self._pg is not None:
            self._pg.close()
        if self._mongo is not None:
            self._mongo.close()  # pymongo's monitor greenlets would otherwise keep the hub alive

    @contextmanager
    def op(self, store: str, name: str, since: float | None = None):
        """Time the block (from ``since`` if given) as one request named ``name``; on failure report it and end this task."""
        start = time.perf_counter() if since is None else since
        try:
            yield
        except RescheduleTask:
            raise
        except Exception as exc:  # any client error is a failed request, never a crashed user
            self._fire(store, name, start, exc)
            self._after_failure(store)
            raise RescheduleTask() from None
        self._fire(store, name, start, None)

    def _fire(self, store: str, name: str, start: float, exc: Exception | None) -> None:
        self.environment.events.request.fire(request_type=store, name=name, response_time=(time.perf_counter() - start) * 1000,
                                             response_length=0, response=None, context={}, exception=exc)

    def _after_failure(self, store: str) -> None:
        if store == "postgres" and self._pg is not None and (self._pg.closed or self._pg.broken):
            self._pg = None  # reconnect on next use (a failover killed the server)

    @property
    def pg(self):
        if self._pg is None:
            self._pg = PostgresAdapter(environment()).connect(Role.app, autocommit=True)
        return self._pg

    @property
    def mongo(self):
        if self._mongo is None:
            self._mongo = MongoAdapter(environment()).client(Role.app)
        return self._mongo

    @property
    def minio(self):
        if self._minio is None:
            self._minio = MinioAdapter(environment()).client(Role.app, connections=2)
        return self._minio

    @property
    def nats(self):
        return nats_bridge()
