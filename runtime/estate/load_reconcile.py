"""Correctness after load: reconcile what a campaign run acknowledged with what the stores hold, and clean up.

A run's data is everything carrying its user id (``run_id``). Every gap is a failure:
- custom bot: every acknowledged or published ``custom-bot.submitted`` event of the run has exactly one
  document in ``bot_runner.bots`` and its zip in ``custom-bots``; no document of the run lacks its event;
- chat: every artifact row has its object in ``ai-artifacts``; every acknowledged session, message and
  artifact is stored;
- backtests: every acknowledged backtest is completed with its result object in ``backtest-results``;
- trades and candles: every acknowledged insert is stored;
- the partitions of ``bot_runner`` and ``backtest_runner`` agree with the items placed in them.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bson import ObjectId
from minio.error import S3Error
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from estate.environment import Environment, Role
from estate.flows.bot_runner import CREATED, DURABLE, SUBJECT
from estate.flows.partitions import Partitions
from estate.seed.generate import BUCKET_AI_ARTIFACTS, BUCKET_BACKTESTS, BUCKET_CUSTOM_BOTS
from estate.seed.writers import STREAM
from estate.stores.minio import MinioAdapter
from estate.stores.mongo import MongoAdapter
from estate.stores.nats import NatsAdapter
from estate.stores.postgres import PostgresAdapter

PARTITIONED = (("bot_runner", "bots"), ("backtest_runner", "backtests"))


def read_ledger(run_dir: Path) -> dict[str, list[dict]]:
    """The acknowledged writes every process of the run recorded, by kind."""
    out: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(run_dir.glob("ledger-*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            out[entry.pop("kind")].append(entry)
    return out


@dataclass
class RunEvents:
    """The run's messages in the event stream: subject -> [(stream sequence, payload)]."""

    by_subject: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)


def run_events(env: Environment, run_id: str, subjects: tuple[str, ...] = (SUBJECT, CREATED)) -> RunEvents:
    nt = NatsAdapter(env)

    async def scan() -> RunEvents:
        nc = await nt.connect(Role.app)
        js, found = nc.jetstream(), RunEvents()
        try:
            for subject in subjects:
                sub = await js.pull_subscribe(subject, stream=STREAM, config=ConsumerConfig(
                    ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=60))
                hits = found.by_subject.setdefault(subject, [])
                while (await sub.consumer_info()).num_pending:
                    try:
                        msgs = await sub.fetch(256, timeout=5)
                    except asyncio.TimeoutError:
                        continue
                    for m in msgs:
                        try:
                            payload = json.loads(m.data)
                        except ValueError:
                            continue
                        if isinstance(payload, dict) and payload.get("userId") == run_id:
                            hits.append((m.metadata.sequence.stream, payload))
                await sub.unsubscribe()
        finally:
            await nc.close()
        return found

    return nt.run(scan)


def wait_drained(env: Environment, timeout: float = 60) -> bool:
    """Whether the bot-runner consumer has nothing pending or unacknowledged (within ``timeout``)."""
    nt = NatsAdapter(env)

    async def poll() -> bool:
        nc = await nt.connect(Role.app)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                info = await nc.jetstream().consumer_info(STREAM, DURABLE)
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return True
                await asyncio.sleep(0.5)
            return False
        finally:
            await nc.close()

    return nt.run(poll)


def _object_exists(client, bucket: str, key: str) -> bool:
    try:
        client.stat_object(bucket, key)
        return True
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return False
        raise


def reconcile(env: Environment, run_id: str, run_dir: Path) -> list[str]:
    """Every gap between what the run acknowledged and what the stores hold (empty when none)."""
    ledger, gaps = read_ledger(run_dir), []
    minio = MinioAdapter(env).client(Role.app, connections=4)
    with MongoAdapter(env).client(Role.app) as mongo:
        # custom bot: events -> exactly one document each, with its zip
        events = run_events(env, run_id, (SUBJECT,)).by_subject[SUBJECT]
        submitted = {e["id"]: e.get("key") for e in ledger["bot"]}
        submitted |= {p["id"]: p.get("filePath") for _, p in events if isinstance(p.get("id"), str)}
        published = {p.get("id") for _, p in events}
        gaps += [f"bot {b}: acknowledged, but its event is not in {STREAM}" for b in submitted if b not in published]
        docs = Counter(d["_id"] for d in mongo["bot_runner"]["bots"].find({"user_id": run_id}, {"_id": 1}))
        for bot_id, key in sorted(submitted.items()):
            if docs.get(bot_id, 0) != 1:
                gaps.append(f"bot {bot_id}: {docs.get(bot_id, 0)} documents in bot_runner.bots for its event (want exactly 1)")
            if key and not _object_exists(minio, BUCKET_CUSTOM_BOTS, key):
                gaps.append(f"bot {bot_id}: zip {BUCKET_CUSTOM_BOTS}/{key} missing")
        gaps += [f"bot {b}: document without a submitted event" for b in sorted(set(docs) - set(submitted))]
        # backtests: acknowledged -> completed, with the result object
        backtests = {d["_id"]: d for d in mongo["backtest_runner"]["backtests"].find({"user_id": run_id})}
        for entry in ledger["backtest"]:
            doc = backtests.get(entry["id"])
            if doc is None or doc.get("status") != "completed":
                gaps.append(f"backtest {entry['id']}: acknowledged completed, stored as {doc and doc.get('status')}")
        for bt_id, doc in sorted(backtests.items()):
            if doc.get("results_path") and not _object_exists(minio, BUCKET_BACKTESTS, doc["results_path"]):
                gaps.append(f"backtest {bt_id}: result object {BUCKET_BACKTESTS}/{doc['results_path']} missing")
        # trades and candles: every acknowledged insert is there
        for kind, coll in (("trade", "trades"), ("candle", "market_data")):
            ids = [ObjectId(e["id"]) for e in ledger[kind]]
            have = {d["_id"] for d in mongo["bot_core"][coll].find({"_id": {"$in": ids}}, {"_id": 1})} if ids else set()
            gaps += [f"{kind} {i}: acknowledged, not in bot_core.{coll}" for i in ids if i not in have]
        for db, coll in PARTITIONED:
            gaps += [f"{db}: {p}" for p in Partitions(mongo[db][coll], mongo[db]["partitions"]).drift()]
    # chat: acknowledged sessions/messages/artifacts stored; every artifact row has its object
    with PostgresAdapter(env).connect(Role.app) as conn:
        sessions = {r[0] for r in conn.execute("SELECT id FROM chat_sessions WHERE user_id = %s", (run_id,))}
        messages = dict(conn.execute("SELECT session_id, count(*) FROM chat_messages WHERE session_id = ANY(%s) "
                                     "GROUP BY session_id", (list(sessions),)).fetchall())
        rows = conn.execute("SELECT session_id, filename, file_path FROM artifacts WHERE session_id = ANY(%s)",
                            (list(sessions),)).fetchall()
    gaps += [f"chat session {e['id']}: acknowledged, not stored" for e in ledger["chat_session"] if e["id"] not in sessions]
    acked = Counter()
    for e in ledger["chat_messages"]:
        acked[e["session"]] += e["count"]
    gaps += [f"chat session {s}: {n} messages acknowledged, {messages.get(s, 0)} stored"
             for s, n in sorted(acked.items()) if messages.get(s, 0) < n]
    stored = {path for _, _, path in rows}
    gaps += [f"artifact {e['key']}: acknowledged, no row" for e in ledger["artifact"] if e["key"] not in stored]
    gaps += [f"artifact row {sid}/{fname}: object {BUCKET_AI_ARTIFACTS}/{path} missing"
             for sid, fname, path in rows if not _object_exists(minio, BUCKET_AI_ARTIFACTS, path)]
    return gaps


def cleanup(env: Environment, run_id: str) -> None:
    """Remove everything the run wrote: rows, documents, objects (every version) and its events."""
    with PostgresAdapter(env).connect(Role.app) as conn:
        sessions = [r[0] for r in conn.execute("DELETE FROM chat_sessions WHERE user_id = %s RETURNING id", (run_id,))]
        conn.commit()
    with MongoAdapter(env).client(Role.app) as mongo:
        for db, coll in PARTITIONED:
            segments = mongo[db][coll].distinct("segment_id", {"user_id": run_id})
            mongo[db][coll].delete_many({"user_id": run_id})
            Partitions(mongo[db][coll], mongo[db]["partitions"]).recount([s for s in segments if s is not None])
        mongo["bot_core"]["trades"].delete_many({"user_id": ObjectId(run_id)})
        mongo["bot_core"]["market_data"].delete_many({"load_run": run_id})
    minio = MinioAdapter(env).client(Role.app, connections=4)
    prefixes = [(BUCKET_CUSTOM_BOTS, f"{run_id}/"), (BUCKET_BACKTESTS, f"{run_id}/")]
    prefixes += [(BUCKET_AI_ARTIFACTS, f"sessions/{s}/") for s in sessions]
    for bucket, prefix in prefixes:
        for item in minio.list_objects(bucket, prefix=prefix, recursive=True, include_version=True):
            minio.remove_object(bucket, item.object_name, version_id=item.version_id)
    seqs = [seq for hits in run_events(env, run_id).by_subject.values() for seq, _ in hits]
    nt = NatsAdapter(env)

    async def drop() -> None:
        nc = await nt.connect(Role.app)
        try:
            for seq in seqs:
                await nc.jetstream().delete_msg(STREAM, seq)
        finally:
            await nc.close()

    if seqs:
        nt.run(drop)
