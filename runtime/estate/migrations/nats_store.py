"""NATS JetStream: the THE0_EVENTS stream of the first seed and the bot-runner's durable consumer.

Create-or-update: a stream whose settings drifted from the declaration is reported and corrected.
Replicas are 3 on a cluster of 3+ servers, 1 otherwise.
"""
from __future__ import annotations

from nats.js.api import (AckPolicy, ConsumerConfig, DeliverPolicy, RetentionPolicy, StorageType,
                         StreamConfig)
from nats.js.errors import NotFoundError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.flows.bot_runner import ACK_WAIT_SECONDS, DURABLE, SUBJECT
from estate.migrations import Step
from estate.seed.writers import STREAM
from estate.stores import adapter
from estate.stores.nats import add_stream

SUBJECTS = ["custom-bot.submitted", "custom-bot.approved", "custom-bot.declined",
            "custom-bot.awaiting-human-review", "custom-bot.analysis-failed",
            "the0.bot.created", "the0.bot.updated", "the0.bot.deleted",
            "the0.bot-schedule.created", "the0.bot-schedule.updated", "the0.bot-schedule.deleted",
            "the0.backtest.created", "the0.backtest.completed"]
MAX_AGE_SECONDS = 7 * 86400
CHECKED = ("subjects", "retention", "storage", "max_age", "num_replicas")


def stream_config(replicas: int) -> StreamConfig:
    return StreamConfig(name=STREAM, subjects=SUBJECTS, retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                        max_age=MAX_AGE_SECONDS, num_replicas=replicas)


def consumer_config() -> ConsumerConfig:
    """Identical to what the worker binds with (estate.flows.bot_runner), so it binds without an update."""
    return ConsumerConfig(durable_name=DURABLE, filter_subject=SUBJECT, ack_policy=AckPolicy.EXPLICIT,
                          deliver_policy=DeliverPolicy.ALL, ack_wait=ACK_WAIT_SECONDS, max_ack_pending=1000)


def _drift(have: StreamConfig, want: StreamConfig) -> list[str]:
    out = []
    for field in CHECKED:
        a, b = getattr(have, field), getattr(want, field)
        if field == "subjects":
            a, b = sorted(a or []), sorted(b)
        if a != b:
            out.append(f"{field} {a} -> {b}")
    return out


def migrate(env) -> list[Step]:
    nats = adapter(env, "nats")
    want = stream_config(3 if len(env.store("nats").endpoints) >= 3 else 1)

    async def run() -> list[Step]:
        nc = await nats.connect(Role.admin)
        try:
            js = nc.jetstream()
            try:
                have = (await js.stream_info(STREAM)).config
            except NotFoundError:
                await add_stream(js, want)
                steps = [Step("nats", f"stream {STREAM} ({len(SUBJECTS)} subjects)", "applied")]
            else:
                drift = _drift(have, want)
                if drift:
                    await js.update_stream(want)
                    steps = [Step("nats", f"stream {STREAM}", "corrected", "drift: " + "; ".join(drift))]
                else:
                    steps = [Step("nats", f"stream {STREAM}", "already applied")]
            try:
                await js.consumer_info(STREAM, DURABLE)
                steps.append(Step("nats", f"consumer {DURABLE}", "already applied"))
            except NotFoundError:
                await js.add_consumer(STREAM, consumer_config())
                steps.append(Step("nats", f"consumer {DURABLE}", "applied"))
            return steps
        except EstateError:
            raise
        except Exception as exc:
            raise EstateError(f"nats migrate: {first_line(exc)}") from None
        finally:
            await nc.close()

    return nats.run(run)
