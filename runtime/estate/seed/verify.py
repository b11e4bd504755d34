"""Read a seeded dataset back from the four stores and check every reference between them.

Returns a list of problems (empty when consistent). Everything is read from the servers; the
in-memory Dataset only says which ids belong to the dataset.
"""
from __future__ import annotations

import json
from collections import Counter

from nats.js.errors import NotFoundError

from estate import api_keys
from estate.environment import Environment, Role
from estate.flows.partitions import Partitions
from estate.sealed_audit import mongo_doc_problems, sealed_problems
from estate.seed.generate import BUCKET_AI_ARTIFACTS, BUCKET_BACKTESTS, BUCKET_BOT_CODE, BUCKET_CUSTOM_BOTS, Dataset
from estate.seed.writers import STREAM, minio_client, stored_digests
from estate.stores.mongo import MongoAdapter
from estate.stores.nats import NatsAdapter
from estate.stores.postgres import PostgresAdapter


def verify(env: Environment, ds: Dataset, key: bytes) -> list[str]:
    """Problems found (empty when consistent); ``key`` opens the API-key secrets."""
    problems: list[str] = []
    objects = stored_digests(minio_client(env, 8), ds.objects)
    missing = [f"{o.bucket}/{o.key}" for o in ds.objects if objects.get((o.bucket, o.key)) != o.sha256]
    problems += [f"object missing or different: {k}" for k in missing[:5]]
    with MongoAdapter(env).client(Role.readonly) as mongo:
        users = {d["_id"] for d in mongo["bot_core"]["users"].find({}, {"_id": 1})}
        problems += _mongo_refs(mongo, ds, users, objects)
        problems += _mongo_api_keys(mongo, ds, key)
    problems += _postgres_refs(env, ds, {str(u) for u in users}, objects)
    problems += _postgres_api_keys(env, ds, key)
    problems += _events(env, ds)
    return problems


def _read(mongo, name: str, projection: dict | None = None) -> list[dict]:
    db, coll = name.split(".", 1)
    return list(mongo[db][coll].find({}, projection, batch_size=10_000))


def _mongo_refs(mongo, ds: Dataset, users: set, objects: dict) -> list[str]:
    out = []
    fields = {"bot_core.trades": ["user_id"], "bot_core.positions": ["user_id"],
              "bot_core.audit_logs": ["user_id", "resource_type", "resource_id"]}
    stored: dict[str, list[dict]] = {}
    for name, docs in ds.collections.items():  # one read per collection; keep the dataset's documents
        ids = {d["_id"] for d in docs}
        every = _read(mongo, name, None if name.split(".")[0] != "bot_core" else dict.fromkeys(fields.get(name, []), 1))
        stored[name] = [d for d in every if d["_id"] in ids]
        if name == "bot_core.trades":
            trades = {d["_id"] for d in every}
        if name == "bot_runner.bots":
            bots = {d["id"] for d in every}
        if len(stored[name]) != len(docs):
            out.append(f"{name}: {len(stored[name])} of the dataset's {len(docs)} documents stored")
    for name in fields:
        if orphans := [d["_id"] for d in stored[name] if d["user_id"] not in users]:
            out.append(f"{name}: {len(orphans)} documents name a user that does not exist")
    if bad := [d for d in stored["bot_core.audit_logs"] if d["resource_type"] == "trade" and _oid(d["resource_id"]) not in trades]:
        out.append(f"bot_core.audit_logs: {len(bad)} entries name a trade that does not exist")
    code = {k.rsplit("/", 1)[0] for b, k in objects if b == BUCKET_BOT_CODE}
    for bot in stored["bot_runner.bots"]:
        path = bot["custom"]["filePath"]
        if path != f"{bot['user_id']}/{bot['id']}.zip" or (BUCKET_CUSTOM_BOTS, path) not in objects:
            out.append(f"bot {bot['id']}: custom.filePath {path!r} names no object in {BUCKET_CUSTOM_BOTS}")
        if f"{bot['user_id']}/{bot['id']}" not in code:
            out.append(f"bot {bot['id']}: no extracted code in {BUCKET_BOT_CODE}")
        if _oid(bot["user_id"]) not in users:
            out.append(f"bot {bot['id']}: user {bot['user_id']} does not exist")
    for bt in stored["backtest_runner.backtests"]:
        if bt["bot_id"] not in bots:
            out.append(f"backtest {bt['id']}: bot {bt['bot_id']} does not exist")
        if bt["status"] == "completed" and (BUCKET_BACKTESTS, bt.get("results_path")) not in objects:
            out.append(f"backtest {bt['id']}: results object missing")
    for sch in stored["bot_scheduler.bot_schedules"]:
        if sch["bot_id"] not in bots:
            out.append(f"schedule {sch['id']}: bot {sch['bot_id']} does not exist")
    for db, coll in (("bot_runner", "bots"), ("backtest_runner", "backtests"), ("bot_scheduler", "bot_schedules")):
        out += [f"{db}: {p}" for p in Partitions(mongo[db][coll], mongo[db]["partitions"]).drift()]
    return out


def _oid(value):
    from bson import ObjectId
    return ObjectId(value) if ObjectId.is_valid(value) else value


def _postgres_refs(env: Environment, ds: Dataset, users: set[str], objects: dict) -> list[str]:
    out = []
    sessions = [r[0] for r in ds.tables["chat_sessions"].rows]
    with PostgresAdapter(env).connect(Role.readonly, "standby") as conn:  # the sync standby has every commit
        rows = conn.execute("SELECT id, user_id FROM chat_sessions WHERE id = ANY(%s)", (sessions,)).fetchall()
        arts = conn.execute("SELECT session_id, filename, file_path FROM artifacts WHERE session_id = ANY(%s)",
                            (sessions,)).fetchall()
        made = conn.execute("SELECT session_id, unnest(artifacts_created) FROM chat_messages WHERE session_id = ANY(%s)",
                            (sessions,)).fetchall()
        n_msgs = conn.execute("SELECT count(*) FROM chat_messages WHERE session_id = ANY(%s)", (sessions,)).fetchone()[0]
    if len(rows) != len(sessions):
        out.append(f"chat_sessions: {len(rows)} of the dataset's {len(sessions)} stored")
    if n_msgs != len(ds.tables["chat_messages"].rows) or len(arts) != len(ds.tables["artifacts"].rows):
        out.append(f"chat: {n_msgs} messages and {len(arts)} artifacts stored, dataset has "
                   f"{len(ds.tables['chat_messages'].rows)} and {len(ds.tables['artifacts'].rows)}")
    out += [f"chat session {sid}: user {uid} is not a bot_core user" for sid, uid in rows if uid not in users][:5]
    for sid, fname, path in arts:
        if not path.startswith(f"sessions/{sid}/") or (BUCKET_AI_ARTIFACTS, path) not in objects:
            out.append(f"artifact {sid}/{fname}: {path!r} is not an object under {BUCKET_AI_ARTIFACTS}/sessions/{sid}/")
    have = {(sid, fname) for sid, fname, _ in arts}
    out += [f"message in {sid} names artifact {f} that has no row" for sid, f in made if (sid, f) not in have][:5]
    return out


def _mongo_api_keys(mongo, ds: Dataset, key: bytes) -> list[str]:
    stored = {d["_id"]: d for d in mongo["bot_core"]["api_keys"].find({"_id": {"$in": [k.doc_id for k in ds.api_keys]}})}
    out = []
    for k in ds.api_keys:
        if (doc := stored.get(k.doc_id)) is None:
            out.append(f"bot_core.api_keys: {k.doc_id} missing")
        else:
            out += mongo_doc_problems(doc, key, k.secret)
    return out[:5]


def _postgres_api_keys(env: Environment, ds: Dataset, key: bytes) -> list[str]:
    with PostgresAdapter(env).connect(Role.app, "standby") as conn:  # readonly may not read secret_sealed
        rows = {r[2]: r for r in conn.execute("SELECT user_id, exchange, api_key, secret_sealed FROM exchange_api_keys "
                                              "WHERE api_key = ANY(%s)", ([k.api_key for k in ds.api_keys],))}
    out = []
    for k in ds.api_keys:
        if (row := rows.get(k.api_key)) is None or row[:2] != (k.user_id, k.exchange):
            out.append(f"exchange_api_keys: {k.exchange} key of {k.user_id} missing")
        else:
            out += sealed_problems(f"exchange_api_keys {k.exchange}/{k.user_id}", bytes(row[3]),
                                   lambda row=row: api_keys.open_pg(key, *row), k.secret)
    return out[:5]


def _events(env: Environment, ds: Dataset) -> list[str]:
    """Each of the dataset's documents has exactly one creation event in THE0_EVENTS."""
    want = Counter(ev.msg_id for ev in ds.events)
    adapter = NatsAdapter(env)

    async def read() -> Counter:
        nc = await adapter.connect(Role.readonly)
        seen: Counter = Counter()
        try:
            js = nc.jetstream()
            for subject in sorted({ev.subject for ev in ds.events}):
                seq = 1
                while True:  # message gets only: the read-only role may not create consumers
                    try:
                        msg = await js.get_msg(STREAM, seq=seq, subject=subject, next=True)
                    except NotFoundError:
                        break
                    seen[f"{subject}:{json.loads(msg.data)['id']}"] += 1
                    seq = msg.seq + 1
        finally:
            await nc.close()
        return seen

    seen = adapter.run(read)
    out = [f"no event {k}" for k in want if not seen.get(k)][:5]
    out += [f"{seen[k]} events {k}" for k in want if seen.get(k, 0) > 1][:5]
    return out
