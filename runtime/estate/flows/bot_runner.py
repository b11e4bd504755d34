"""The reference event flow: custom-bot.submitted -> bot_runner.bots, partitioned by capacity.

Queue semantics. The first seed's Go service uses a core-NATS queue subscription with a durable
name; on JetStream the robust equivalent is one shared durable *pull* consumer that every worker
fetches from: the server hands each message to one fetcher at a time, redelivers it after
``ack_wait`` if that worker dies before acking, and the consumer's state survives every worker.
(A push consumer with a deliver group also gives queue semantics, but the server pushes at its own
pace into members that may be busy or gone; with pull each worker takes only what it can process,
which is what the NATS docs recommend for work queues.)

Exactly one document per event, without transactions or atomic updates (FerretDB has neither):
1. a bot already stored under the event's bot id (the document ``_id``) means a redelivery or a
   resubmission: skip to 3;
2. insert the bot with a free (segment_id, slot) of a partition with room — one insert that is at
   once the capacity reservation (unique index on segment_id + slot) and the idempotency check
   (unique ``_id``); a duplicate-key error means someone else got there: look again
   (``flows.partitions``); the partition's ``bot_count`` is then recounted;
3. publish the0.bot.created with Nats-Msg-Id ``the0.bot.created:{id}`` (JetStream drops the repeat
   a redelivery sends inside the duplicate window), then ack and wait for the server to confirm.
A worker killed anywhere leaves either no document (the redelivery inserts it) or the complete one.
A failed write is nak'ed (redelivered later); an undecodable message is terminated and reported.
"""
from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Callable

from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import ServiceUnavailableError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, ReplayPolicy
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from estate.environment import Environment, Role
from estate.errors import EstateError, first_line
from estate.flows.partitions import DEFAULT_MAX_CAPACITY, SLOT_INDEX, Partitions
from estate.seed.generate import Event
from estate.seed.writers import STREAM, UNMIGRATED, event_payload
from estate.stores.mongo import MongoAdapter
from estate.stores.nats import NatsAdapter

SUBJECT = "custom-bot.submitted"
DURABLE = "bot-runner-workers"
CREATED = "the0.bot.created"
ACK_WAIT_SECONDS = 10


def consumer_config() -> ConsumerConfig:
    """The consumer the worker binds with (and `estate migrate` declares), the server's defaults made
    explicit: a durable pull consumer (no deliver subject or group), redelivering without limit."""
    return ConsumerConfig(durable_name=DURABLE, filter_subject=SUBJECT, ack_policy=AckPolicy.EXPLICIT,
                          deliver_policy=DeliverPolicy.ALL, ack_wait=ACK_WAIT_SECONDS, max_ack_pending=1000,
                          max_deliver=-1, replay_policy=ReplayPolicy.INSTANT)


class BadEvent(ValueError):
    """A message that can never be processed (redelivering it would not help)."""


def parse_submission(data: bytes) -> dict:
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise BadEvent(f"not JSON: {first_line(exc)}") from None
    if not isinstance(event, dict):
        raise BadEvent("not a JSON object")
    missing = [k for k in ("id", "userId", "filePath", "version", "config") if k not in event]
    if missing:
        raise BadEvent(f"missing {', '.join(missing)}")
    if not isinstance(event["id"], str) or not event["id"] or not isinstance(event["config"], dict):
        raise BadEvent("id must be a non-empty string and config an object")
    try:
        event["submittedAt"] = datetime.fromisoformat(event["submittedAt"]) if event.get("submittedAt") else None
    except (TypeError, ValueError):
        raise BadEvent(f"submittedAt {event['submittedAt']!r} is not an ISO 8601 time") from None
    return event


def bot_document(event: dict) -> dict:
    """The bot_runner.bots document for a submission (same event -> same document); placement adds the segment."""
    at = event.get("submittedAt") or datetime.now(UTC)
    return {"_id": event["id"], "id": event["id"], "user_id": event["userId"],
            "config": {"enabled": True, "settings": event.get("settings", {})},
            "custom": {"version": event["version"], "config": event["config"], "filePath": event["filePath"],
                       "createdAt": at, "updatedAt": at}}


class BotStore:
    """The MongoDB side of the flow (synchronous pymongo; called from a thread)."""

    def __init__(self, client: MongoClient, max_capacity: int = DEFAULT_MAX_CAPACITY):
        db = client["bot_runner"]
        self.partitions = Partitions(db["bots"], db["partitions"], max_capacity)
        self.partitions.ensure_index()

    def persist(self, event: dict) -> tuple[dict, bool]:
        """(the stored document, whether this call created it)."""
        return self.partitions.place(bot_document(event))


@dataclass
class WorkerStats:
    created: int = 0
    duplicates: int = 0
    retried: int = 0
    rejected: int = 0


async def run_bot_runner(env: Environment, *, batch: int = 10, max_capacity: int = DEFAULT_MAX_CAPACITY,
                         idle_exit: float | None = None, log: Callable[[str], None] = print) -> WorkerStats:
    """Consume until SIGTERM/SIGINT (or ``idle_exit`` seconds without a message)."""
    stats = WorkerStats()
    adapter = NatsAdapter(env)
    nc = await adapter.connect(Role.app, max_reconnect_attempts=-1)
    mongo = MongoAdapter(env).client(Role.app)
    store = BotStore(mongo, max_capacity)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        js = nc.jetstream()
        try:
            sub = await js.pull_subscribe(SUBJECT, durable=DURABLE, stream=STREAM, config=consumer_config())
        except Exception as exc:
            hint = UNMIGRATED if "stream not found" in str(exc) else ""
            raise EstateError(f"bot-runner: cannot bind consumer {DURABLE} on {STREAM}: {first_line(exc)}{hint}") from None
        log(f"bot-runner: consuming {SUBJECT} from {STREAM} as {DURABLE}")
        mongo_store = env.store("mongo")
        lacks = [c for c in ("transactions", "atomic_updates") if mongo_store.capabilities.get(c) is False]
        log(f"bot-runner: partition capacity is held by the unique index {SLOT_INDEX}"
            + (f" because {mongo_store.server} lacks {' and '.join(lacks)}" if lacks else ""))
        idle_since = loop.time()
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except (NatsTimeout, asyncio.TimeoutError):  # a fetch deadline under CPU load raises the plain one
                if idle_exit is not None and loop.time() - idle_since >= idle_exit:
                    break
                continue
            except (ServiceUnavailableError, NoRespondersError, ConnectionClosedError) as exc:
                # a consumer leader being elected (fresh R3 consumer, node restart): wait and pull again
                log(f"bot-runner: JetStream unavailable ({type(exc).__name__}), retrying")
                await asyncio.sleep(1)
                continue
            idle_since = loop.time()
            for msg in msgs:
                await _handle(js, store, msg, stats, log)
    finally:
        mongo.close()
        await nc.close()
    log(f"bot-runner: stopped: {stats.created} created, {stats.duplicates} duplicates, "
        f"{stats.retried} retried, {stats.rejected} rejected")
    return stats


async def _handle(js, store: BotStore, msg, stats: WorkerStats, log: Callable[[str], None]) -> None:
    try:
        event = parse_submission(msg.data)
    except BadEvent as exc:
        stats.rejected += 1
        log(f"bot-runner: rejected message {msg.metadata.sequence.stream}: {exc}")
        await msg.term()
        return
    try:
        doc, created = await asyncio.to_thread(store.persist, event)
    except PyMongoError as exc:
        stats.retried += 1
        log(f"bot-runner: bot {event['id']}: write failed, will retry: {first_line(exc)}")
        await msg.nak(delay=2)
        return
    try:
        await js.publish(CREATED, event_payload(Event(CREATED, f"{CREATED}:{doc['id']}", doc)), stream=STREAM,
                         headers={"Nats-Msg-Id": f"{CREATED}:{doc['id']}"})
        await msg.ack_sync()
    except Exception as exc:  # publish or ack not confirmed: the redelivery finds the document and repeats both
        stats.retried += 1
        log(f"bot-runner: bot {doc['id']}: stored, but event/ack not confirmed ({first_line(exc) or type(exc).__name__})")
        return
    if created:
        stats.created += 1
        log(f"bot-runner: created bot {doc['id']} in partition {doc['segment_id']}")
    else:
        stats.duplicates += 1
        log(f"bot-runner: bot {doc['id']} already stored (partition {doc.get('segment_id')}): acked")
