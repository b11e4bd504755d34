"""Locust users, one per store, each timing real operations over TLS with the app role.

The environment comes from the file named by ``ESTATE_ENVIRONMENT_FILE`` (what `estate up` writes,
or a stack's environment), so the same users run locally and in the cluster.
"""
from __future__ import annotations

import locust  # noqa: F401  first: gevent must patch select before psycopg is imported

import io
import os
import random
import ssl
import uuid
from functools import cache
from pathlib import Path

import nats
import psycopg
from locust import User, constant, events, task
from minio import Minio
from pymongo import MongoClient

from estate.environment import Environment, Role
from estate.load import LOAD_BUCKET, LOAD_INSERT_SQL, LOAD_SCHEMA, LOAD_SELECT_SQL, LOAD_SUBJECT
from loadtests.bridge import AsyncioBridge

OBJECT_SIZE = 4096


@cache
def environment() -> Environment:
    return Environment.load(Path(os.environ.get("ESTATE_ENVIRONMENT_FILE", ".estate/environment.json")))


class StoreUser(User):
    abstract = True
    wait_time = constant(0)  # closed loop: each user issues its next call as soon as one returns

    def measure(self, name: str):
        return self.environment.events.request.measure(self.store, name)


class PostgresUser(StoreUser):
    """One connection and one cursor for the user's life; psycopg prepares each statement server-side
    after its ``prepare_threshold`` (5) executions, so both run as prepared statements, as pgbench -M prepared."""

    store = "postgres"

    def on_start(self) -> None:
        self.conn = psycopg.connect(environment().postgres_url(Role.app), autocommit=True)
        self.cur = self.conn.cursor()
        self.ids: list[int] = []

    def on_stop(self) -> None:
        self.conn.close()

    @task(1)
    def insert(self) -> None:
        with self.measure("insert (sync commit)"):
            row = self.cur.execute(LOAD_INSERT_SQL, ('{"kind": "load", "n": %d}' % random.randrange(1_000_000),)).fetchone()
        self.ids.append(row[0])

    @task(3)
    def select(self) -> None:
        if not self.ids:
            return
        with self.measure("select by key"):
            self.cur.execute(LOAD_SELECT_SQL, (random.choice(self.ids),)).fetchone()


class MongoUser(StoreUser):
    store = "mongo"

    def on_start(self) -> None:
        self.client = MongoClient(environment().mongo_uri(Role.app))
        self.coll = self.client[LOAD_SCHEMA]["events"]
        self.ids: list[str] = []

    def on_stop(self) -> None:
        self.client.close()  # pymongo's monitor greenlets would otherwise keep the hub alive

    @task(1)
    def insert(self) -> None:
        doc_id = uuid.uuid4().hex
        with self.measure("insert_one"):
            self.coll.insert_one({"_id": doc_id, "kind": "load", "n": random.randrange(1_000_000)})
        self.ids.append(doc_id)

    @task(3)
    def find(self) -> None:
        if not self.ids:
            return
        with self.measure("find_one by _id"):
            self.coll.find_one({"_id": random.choice(self.ids)})


class MinioUser(StoreUser):
    store = "minio"

    def on_start(self) -> None:
        import urllib3

        env = environment()
        store, cred = env.store("minio"), env.store("minio").credential(Role.app)
        http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(env.ca_file), maxsize=4)
        self.client = Minio(store.endpoint().address, access_key=cred.username,
                            secret_key=cred.password.get_secret_value(), secure=True, http_client=http)
        self.keys: list[str] = []
        self.body = os.urandom(OBJECT_SIZE)

    @task(1)
    def put(self) -> None:
        key = f"load/{uuid.uuid4().hex}"
        with self.measure("put 4 KiB"):
            self.client.put_object(LOAD_BUCKET, key, io.BytesIO(self.body), OBJECT_SIZE)
        self.keys.append(key)

    @task(3)
    def get(self) -> None:
        if not self.keys:
            return
        with self.measure("get 4 KiB"):
            resp = self.client.get_object(LOAD_BUCKET, random.choice(self.keys))
            resp.read()
            resp.close()
            resp.release_conn()


async def _nats_connect():
    env = environment()
    cred = env.store("nats").credential(Role.app)
    nc = await nats.connect(servers=env.nats_urls(Role.app, with_credentials=False), user=cred.username,
                            password=cred.password.get_secret_value(),
                            tls=ssl.create_default_context(cafile=str(env.ca_file)))
    return nc.jetstream(), nc


async def _nats_close(client) -> None:
    await client[1].close()


_bridge: AsyncioBridge | None = None


def nats_bridge() -> AsyncioBridge:
    """This process's bridge: one NATS connection that every user of the process shares."""
    global _bridge
    if _bridge is None:
        _bridge = AsyncioBridge(_nats_connect, _nats_close)
    return _bridge


@events.test_stop.add_listener
def _close_bridge(**_kw) -> None:
    global _bridge
    if _bridge is not None:
        _bridge.close()
        _bridge = None


class NatsUser(StoreUser):
    store = "nats"

    def on_start(self) -> None:
        self.bridge = nats_bridge()
        self.payload = os.urandom(256)

    @task
    def publish(self) -> None:
        with self.measure("JetStream publish (acked)"):
            self.bridge.call(lambda client: client[0].publish(LOAD_SUBJECT, self.payload))


USERS = {"postgres": PostgresUser, "mongo": MongoUser, "nats": NatsUser, "minio": MinioUser}
