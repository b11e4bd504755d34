"""NATS JetStream: the THE0_EVENTS stream of the first seed and the bot-runner's durable consumer.

Create-or-update: a stream or consumer whose settings drifted from the declaration is reported and
corrected by ``migrate``, and named field by field by ``compare``, from the same declaration.
Replicas are 3 on a cluster of 3+ servers, 1 otherwise.
"""
from __future__ import annotations

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.flows.bot_runner import DURABLE, consumer_config
from estate.migrations import Drift, Step
from estate.seed.writers import STREAM
from estate.stores import adapter
from estate.stores.nats import add_stream, retrying

SUBJECTS = ["custom-bot.submitted", "custom-bot.approved", "custom-bot.declined",
            "custom-bot.awaiting-human-review", "custom-bot.analysis-failed",
            "the0.bot.created", "the0.bot.updated", "the0.bot.deleted",
            "the0.bot-schedule.created", "the0.bot-schedule.updated", "the0.bot-schedule.deleted",
            "the0.backtest.created", "the0.backtest.completed"]
MAX_AGE_SECONDS = 7 * 86400
DUPLICATE_WINDOW_SECONDS = 120  # a republish with the same Nats-Msg-Id within it is dropped
UNLIMITED = -1
# every field below is declared explicitly (even where it is the server's default) and compared
STREAM_FIELDS = ("subjects", "retention", "storage", "max_age", "num_replicas", "discard", "duplicate_window",
                 "max_msgs", "max_bytes", "max_msg_size", "max_msgs_per_subject", "max_consumers", "deny_delete",
                 "deny_purge", "allow_rollup_hdrs", "sealed")
CONSUMER_FIELDS = ("durable_name", "filter_subject", "ack_policy", "deliver_policy", "ack_wait", "max_deliver",
                   "max_ack_pending", "replay_policy", "deliver_subject", "deliver_group")


def replicas(env) -> int:
    return 3 if len(env.store("nats").endpoints) >= 3 else 1


def stream_config(replicas: int) -> StreamConfig:
    return StreamConfig(name=STREAM, subjects=SUBJECTS, retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                        max_age=MAX_AGE_SECONDS, num_replicas=replicas, discard=DiscardPolicy.OLD,
                        duplicate_window=DUPLICATE_WINDOW_SECONDS, max_msgs=UNLIMITED, max_bytes=UNLIMITED,
                        max_msg_size=UNLIMITED, max_msgs_per_subject=UNLIMITED, max_consumers=UNLIMITED,
                        deny_delete=False, deny_purge=False, allow_rollup_hdrs=False, sealed=False)


def _differences(what: str, fields: tuple[str, ...], live, declared) -> list[str]:
    """``nats <what> <field>: declared X, live Y`` for each field that differs."""
    out = []
    for field in fields:
        want, have = getattr(declared, field), getattr(live, field)
        if field == "subjects":
            want, have = sorted(want or []), sorted(have or [])
        want, have = _plain(want), _plain(have)
        if want != have and not (want is False and have is None):  # the server omits false flags
            out.append(f"nats {what} {field}: declared {want}, live {have}")
    return out


def _fields(differences: list[str], what: str) -> str:
    """The differences without the object they are about: ``max_age: declared X, live Y; …``."""
    return "; ".join(line.removeprefix(f"nats {what} ") for line in differences)


def _plain(value):
    return getattr(value, "value", value)  # enums as the server spells them


async def _live(js):
    """(stream config or None, consumer config or None)."""
    try:
        stream = (await retrying(lambda: js.stream_info(STREAM), f"reading stream {STREAM}")).config
    except NotFoundError:
        return None, None
    try:
        return stream, (await retrying(lambda: js.consumer_info(STREAM, DURABLE), f"reading consumer {DURABLE}")).config
    except NotFoundError:
        return stream, None


def compare(env) -> Drift:
    """Every declared field of the stream and its consumer against the live configuration."""
    nats = adapter(env, "nats")

    async def run() -> Drift:
        nc = await nats.connect(Role.admin)
        try:
            stream, consumer = await _live(nc.jetstream())
        except Exception as exc:
            raise EstateError(f"nats drift: {first_line(exc)}") from None
        finally:
            await nc.close()
        drift = Drift()
        if stream is None:
            drift.differences.append(f"nats stream {STREAM}: declared present, live absent")
            return drift
        drift.differences += _differences(f"stream {STREAM}", STREAM_FIELDS, stream, stream_config(replicas(env)))
        if consumer is None:
            drift.differences.append(f"nats consumer {STREAM}/{DURABLE}: declared present, live absent")
        else:
            drift.differences += _differences(f"consumer {STREAM}/{DURABLE}", CONSUMER_FIELDS, consumer,
                                              consumer_config())
        return drift

    return nats.run(run)


def migrate(env) -> list[Step]:
    nats = adapter(env, "nats")
    want = stream_config(replicas(env))

    async def run() -> list[Step]:
        nc = await nats.connect(Role.admin)
        try:
            js = nc.jetstream()
            have, consumer = await _live(js)
            if have is None:
                await add_stream(js, want)
                steps = [Step("nats", f"stream {STREAM} ({len(SUBJECTS)} subjects)", "applied")]
            elif drift := _differences(f"stream {STREAM}", STREAM_FIELDS, have, want):
                await retrying(lambda: js.update_stream(want), f"updating stream {STREAM}")
                steps = [Step("nats", f"stream {STREAM}", "corrected", _fields(drift, f"stream {STREAM}"))]
            else:
                steps = [Step("nats", f"stream {STREAM}", "already applied")]
            if consumer is None:
                await retrying(lambda: js.add_consumer(STREAM, consumer_config()), f"creating consumer {DURABLE}")
                steps.append(Step("nats", f"consumer {DURABLE}", "applied"))
            elif drift := _differences(f"consumer {STREAM}/{DURABLE}", CONSUMER_FIELDS, consumer, consumer_config()):
                await retrying(lambda: js.add_consumer(STREAM, consumer_config()),  # updates a durable's mutable settings
                               f"updating consumer {DURABLE}")
                steps.append(Step("nats", f"consumer {DURABLE}", "corrected", _fields(drift, f"consumer {STREAM}/{DURABLE}")))
            else:
                steps.append(Step("nats", f"consumer {DURABLE}", "already applied"))
            return steps
        except EstateError:
            raise
        except Exception as exc:
            raise EstateError(f"nats migrate: {first_line(exc)}") from None
        finally:
            await nc.close()

    return nats.run(run)
