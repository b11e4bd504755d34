"""The reference event flow: two `estate worker bot-runner` processes, one SIGKILLed mid-stream."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

from bson import ObjectId

from estate.environment import Environment, Role
from estate.flows.bot_runner import CREATED, DURABLE, SUBJECT
from estate.flows.partitions import Partitions
from estate.seed.writers import STREAM
from estate.stores import adapter

BOTS = 300
RESUBMITTED = 30  # the same bot submitted again under a new message id: JetStream keeps both, the worker must not


class Worker:
    """`estate worker bot-runner` in a subprocess, its output lines collected as they come."""

    def __init__(self, cli_argv: list[str]):
        self.proc = subprocess.Popen(cli_argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")), daemon=True)
        self._reader.start()

    @property
    def created(self) -> int:
        return sum("created bot" in line for line in self.lines)

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return rc


def submit(env: Environment, bot_ids: list[str]) -> None:
    nats = adapter(env, "nats")
    user = str(ObjectId())

    async def go() -> None:
        nc = await nats.connect(Role.app)
        js = nc.jetstream()
        pending = []
        for n, bot_id in enumerate(bot_ids + bot_ids[:RESUBMITTED]):
            event = {"id": bot_id, "userId": user, "filePath": f"{user}/{bot_id}.zip", "version": "1.0.0",
                     "config": {"name": f"bot {bot_id[:8]}", "runtime": "python3.11", "type": "trading"},
                     "submittedAt": "2026-11-01T12:00:00+00:00"}
            msg_id = bot_id if n < len(bot_ids) else f"{bot_id}:resubmitted"
            pending.append(await js.publish_async(SUBJECT, json.dumps(event).encode(), headers={"Nats-Msg-Id": msg_id}))
        pending.append(await js.publish_async(SUBJECT, b"{not json", headers={"Nats-Msg-Id": f"poison-{user}"}))
        for fut in pending:
            await fut
        await nc.close()

    nats.run(go)


def consumer_drained(env: Environment) -> bool:
    nats = adapter(env, "nats")

    async def go() -> bool:
        nc = await nats.connect(Role.app)
        info = await nc.jetstream().consumer_info(STREAM, DURABLE)
        await nc.close()
        return info.num_pending == 0 and info.num_ack_pending == 0

    return nats.run(go)


def created_events(env: Environment, bot_ids: set[str]) -> Counter:
    nats = adapter(env, "nats")

    async def go() -> Counter:
        nc = await nats.connect(Role.app)
        sub = await nc.jetstream().subscribe(CREATED, stream=STREAM, ordered_consumer=True)
        seen: Counter = Counter()
        try:
            while True:
                msg = await sub.next_msg(timeout=2)
                if (bot := json.loads(msg.data)["id"]) in bot_ids:
                    seen[bot] += 1
        except Exception:  # timeout: the stream is read to its end
            pass
        await nc.close()
        return seen

    return nats.run(go)


def test_two_workers_one_killed_mid_stream_lose_and_duplicate_nothing(migrated: Environment, workdir: Path) -> None:
    env = migrated
    bot_ids = [str(uuid.uuid4()) for _ in range(BOTS)]
    submit(env, bot_ids)
    argv = [sys.executable, "-m", "estate", "worker", "bot-runner", "--workdir", str(workdir), "--batch", "5"]
    victim, survivor = Worker(argv), Worker(argv)
    try:
        deadline = time.monotonic() + 60
        while victim.created < 10:  # mid-stream: it has stored some bots and holds unacked messages
            assert time.monotonic() < deadline and victim.proc.poll() is None, victim.lines[-3:]
            time.sleep(0.02)
        assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
        bots = adapter(env, "mongo").client(Role.app)["bot_runner"]["bots"]
        deadline = time.monotonic() + 90  # the victim's unacked messages come back after the ack wait
        while not (bots.count_documents({"_id": {"$in": bot_ids}}) == BOTS and consumer_drained(env)):
            assert time.monotonic() < deadline, f"{bots.count_documents({'_id': {'$in': bot_ids}})} of {BOTS} stored"
            assert survivor.proc.poll() is None, survivor.lines[-3:]
            time.sleep(0.5)
    finally:
        for w in (victim, survivor):
            if w.proc.poll() is None:
                w.stop(signal.SIGTERM)
    assert survivor.proc.returncode == 0 and "stopped:" in survivor.lines[-1]
    assert 10 <= victim.created < BOTS and survivor.created > 0, "both workers shared the queue"
    stored = list(bots.find({"_id": {"$in": bot_ids}}, {"id": 1, "segment_id": 1}))
    assert sorted(d["id"] for d in stored) == sorted(bot_ids)  # none lost, none twice
    # a bot the victim stored but could not report before SIGKILL is "already stored" for the survivor
    assert victim.created + survivor.created <= BOTS
    assert sum("already stored" in line for line in survivor.lines) >= RESUBMITTED  # resubmissions only acked
    assert sum("rejected message" in line for line in victim.lines + survivor.lines) == 1  # terminated, reported
    assert Partitions(bots, bots.database["partitions"]).drift() == []  # counts == bots placed, none over capacity
    assert created_events(env, set(bot_ids)) == Counter(dict.fromkeys(bot_ids, 1))  # one the0.bot.created per bot


def test_undecodable_submissions_are_rejected_with_a_reason() -> None:
    import pytest

    from estate.flows.bot_runner import BadEvent, bot_document, parse_submission

    good = {"id": "b1", "userId": "u1", "filePath": "u1/b1.zip", "version": "1.0.0", "config": {"name": "x"},
            "submittedAt": "2026-11-01T12:00:00+00:00"}
    doc = bot_document(parse_submission(json.dumps(good).encode()))
    assert doc["_id"] == doc["id"] == "b1" and doc["custom"]["filePath"] == "u1/b1.zip" and "segment_id" not in doc
    for bad, reason in [(b"{nope", "not JSON"), (b"[1]", "not a JSON object"),
                        (json.dumps({"id": "b1"}).encode(), "missing userId"),
                        (json.dumps({**good, "id": ""}).encode(), "non-empty"),
                        (json.dumps({**good, "submittedAt": "yesterday"}).encode(), "ISO 8601")]:
        with pytest.raises(BadEvent, match=reason):
            parse_submission(bad)
