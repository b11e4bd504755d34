"""Put a Dataset into the four stores, each by its fastest idempotent path.

- PostgreSQL: one transaction that deletes the dataset's sessions (messages and artifacts cascade),
  settings keys and API keys, then COPYs every table; messages have no natural key, so replace beats
  upsert.
- MongoDB: unordered bulk inserts where a duplicate ``_id`` means "already seeded" (idempotent
  without a read); documents of partitioned collections are placed in free partition slots
  (``flows.partitions``).
- MinIO: parallel uploads (thread pool), skipping objects whose stored sha256 already matches, so a
  re-seed writes no new object versions.
- NATS: async JetStream publishes with acks awaited per batch, for the documents this run created
  only, each with a Nats-Msg-Id so a retried publish inside the duplicate window is dropped.
"""
from __future__ import annotations

import asyncio
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import psycopg
from minio import Minio
from minio.error import S3Error
from minio.sse import SseS3
from psycopg import sql
from pymongo.errors import BulkWriteError, PyMongoError

from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.flows.partitions import Partitions
from estate.seed.generate import Dataset, Event, Obj
from estate.stores.minio import MinioAdapter
from estate.stores.mongo import MongoAdapter
from estate.stores.nats import NatsAdapter
from estate.stores.postgres import PostgresAdapter

Advance = Callable[[int], None]
STREAM = "THE0_EVENTS"
UNMIGRATED = " (run `estate migrate` first)"
PARTITIONED = {"bot_runner.bots", "backtest_runner.backtests", "bot_scheduler.bot_schedules"}
MONGO_BATCH = 5000
NATS_BATCH = 500
UPLOAD_THREADS = 8


@dataclass
class Written:
    """What one writer did: ``written`` items stored, ``kept`` items already there and left alone."""

    written: int = 0
    kept: int = 0
    note: str = ""


# --- PostgreSQL -----------------------------------------------------------------------------------

def clear_postgres(cur, ds: Dataset) -> int:
    """Delete the rows ``ds`` would write (messages and artifacts cascade); returns the sessions deleted."""
    replaced = cur.execute("DELETE FROM chat_sessions WHERE id = ANY(%s)",
                           ([row[0] for row in ds.tables["chat_sessions"].rows],)).rowcount
    cur.execute("DELETE FROM settings WHERE key = ANY(%s)", ([row[0] for row in ds.tables["settings"].rows],))
    cur.execute("DELETE FROM exchange_api_keys WHERE api_key = ANY(%s)", ([k.api_key for k in ds.api_keys],))
    return replaced


def write_postgres(env: Environment, ds: Dataset, advance: Advance = lambda n: None) -> Written:
    try:
        with PostgresAdapter(env).connect(Role.app) as conn, conn.transaction(), conn.cursor() as cur:
            replaced = clear_postgres(cur, ds)
            for name, table in ds.tables.items():
                stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, table.columns)))
                with cur.copy(stmt) as copy:
                    for row in table.rows:
                        copy.write_row(row)
                advance(len(table.rows))
    except psycopg.Error as exc:
        hint = UNMIGRATED if isinstance(exc, psycopg.errors.UndefinedTable) else ""
        raise EstateError(f"postgres seed: {first_line(exc)}{hint}") from None
    total = sum(len(t.rows) for t in ds.tables.values())
    return Written(written=total, note=f"replaced {replaced} sessions seeded before" if replaced else "")


# --- MongoDB --------------------------------------------------------------------------------------

def write_mongo(env: Environment, ds: Dataset, advance: Advance = lambda n: None) -> tuple[Written, set]:
    """Insert what is missing; returns the counts and the ``_id``s this run inserted."""
    result, inserted = Written(), set()
    try:
        with MongoAdapter(env).client(Role.app) as client:
            for name, docs in ds.collections.items():
                db, coll = name.split(".", 1)
                collection = client[db][coll]
                todo = docs
                if name in PARTITIONED or _is_timeseries(client[db], coll):
                    # partition slots are taken for new documents only; time-series collections have
                    # no unique _id index, so there the read is what keeps a re-seed from duplicating
                    have = _existing(collection, [d["_id"] for d in docs])
                    todo = [d for d in docs if d["_id"] not in have]
                    advance(len(docs) - len(todo))
                    if name in PARTITIONED:
                        parts = Partitions(collection, client[db]["partitions"])
                        parts.ensure_index()
                        inserted |= parts.place_many(todo)
                        advance(len(todo))
                        continue
                for i in range(0, len(todo), MONGO_BATCH):
                    batch = todo[i:i + MONGO_BATCH]
                    inserted |= _insert_missing(collection, batch)
                    advance(len(batch))
            result.written = len(inserted)
            result.kept = sum(len(d) for d in ds.collections.values()) - result.written
    except PyMongoError as exc:
        raise EstateError(f"mongo seed: {first_line(exc)}") from None
    return result, inserted


def _insert_missing(collection, batch: list[dict]) -> set:
    try:
        collection.insert_many(batch, ordered=False)
        return {d["_id"] for d in batch}
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if other := [e for e in errors if e.get("code") != 11000]:
            raise EstateError(f"mongo seed: {collection.full_name}: {first_line(Exception(other[0].get('errmsg')))}") from None
        failed = {e["index"] for e in errors}
        return {d["_id"] for i, d in enumerate(batch) if i not in failed}


def _existing(collection, ids: list) -> set:
    have = set()
    for i in range(0, len(ids), 1000):
        have |= {d["_id"] for d in collection.find({"_id": {"$in": ids[i:i + 1000]}}, {"_id": 1})}
    return have


def _is_timeseries(db, coll: str) -> bool:
    info = next(iter(db.list_collections(filter={"name": coll})), None)
    return bool(info and info.get("type") == "timeseries")


# --- MinIO ----------------------------------------------------------------------------------------

def minio_client(env: Environment, connections: int) -> Minio:
    """The app role's client, its connection pool sized for ``connections`` threads."""
    return MinioAdapter(env).client(Role.app, connections)


def stored_digests(client: Minio, objects: list[Obj], threads: int = UPLOAD_THREADS) -> dict[tuple[str, str], str]:
    """(bucket, key) -> the sha256 the seed stored as user metadata, for the objects' folders.

    One listing per folder (a bot's, a session's…), in parallel: fewer requests than a HEAD per
    object, and O(dataset) rather than O(bucket).
    """
    folders = sorted({(o.bucket, o.key.rsplit("/", 1)[0] + "/") for o in objects})

    def listing(folder: tuple[str, str]) -> list[tuple[tuple[str, str], str]]:
        bucket, prefix = folder
        return [((bucket, item.object_name),
                 {k.lower(): v for k, v in (item.metadata or {}).items()}.get("x-amz-meta-sha256", ""))
                for item in client.list_objects(bucket, prefix=prefix, recursive=True, include_user_meta=True)]

    with ThreadPoolExecutor(threads) as pool:
        return dict(pair for found in pool.map(listing, folders) for pair in found)


def write_minio(env: Environment, objects: list[Obj], advance: Advance = lambda n: None,
                threads: int = UPLOAD_THREADS) -> Written:
    client, sse = minio_client(env, threads), SseS3()
    try:
        stored = stored_digests(client, objects, threads)
        todo = [o for o in objects if stored.get((o.bucket, o.key)) != o.sha256]
        advance(len(objects) - len(todo))

        def put(obj: Obj) -> None:
            client.put_object(obj.bucket, obj.key, io.BytesIO(obj.data), len(obj.data), content_type=obj.content_type,
                              metadata={"sha256": obj.sha256}, sse=sse)
            advance(1)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, todo))
    except S3Error as exc:
        hint = UNMIGRATED if exc.code == "NoSuchBucket" else ""
        raise EstateError(f"minio seed: {exc.code}: {exc.message} ({exc.bucket_name}/{exc.object_name or ''}){hint}") from None
    return Written(written=len(todo), kept=len(objects) - len(todo))


# --- NATS -----------------------------------------------------------------------------------------

def event_payload(ev: Event) -> bytes:
    doc = ev.doc
    body = {"type": ev.subject, "id": doc["id"], "userId": doc["user_id"], "segmentId": doc.get("segment_id")}
    if ev.subject == "the0.bot.created":
        body |= {"name": doc["custom"]["config"]["name"], "version": doc["custom"]["version"],
                 "filePath": doc["custom"]["filePath"], "occurredAt": doc["custom"]["createdAt"]}
    elif ev.subject == "the0.bot-schedule.created":
        body |= {"botId": doc["bot_id"], "cron": doc["schedule"]["cron"], "occurredAt": doc["created_at"]}
    elif ev.subject == "the0.backtest.completed":
        body |= {"botId": doc["bot_id"], "resultsPath": doc["results_path"], "occurredAt": doc["completed_at"]}
    else:
        body |= {"botId": doc["bot_id"], "occurredAt": doc["created_at"]}
    return json.dumps(body, default=str, separators=(",", ":")).encode()


def write_nats(env: Environment, events: list[Event], advance: Advance = lambda n: None,
               batch: int = NATS_BATCH) -> Written:
    adapter = NatsAdapter(env)

    async def go() -> Written:
        nc = await adapter.connect(Role.app)
        result = Written()
        try:
            js = nc.jetstream(publish_async_max_pending=batch)
            for i in range(0, len(events), batch):
                chunk = events[i:i + batch]
                futures = [await js.publish_async(ev.subject, event_payload(ev), stream=STREAM,
                                                  headers={"Nats-Msg-Id": ev.msg_id}) for ev in chunk]
                for ack in await asyncio.gather(*futures):
                    result.kept += bool(ack.duplicate)
                    result.written += not ack.duplicate
                advance(len(chunk))
        except Exception as exc:  # nats-py raises unrelated types (timeouts, API errors)
            hint = UNMIGRATED if "stream not found" in str(exc) else ""
            raise EstateError(f"nats seed: {first_line(exc) or type(exc).__name__}{hint}") from None
        finally:
            await nc.close()
        return result

    return adapter.run(go)
