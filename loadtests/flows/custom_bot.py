"""Custom bot: upload the zip to custom-bots, publish custom-bot.submitted, wait until the bot-runner
worker has persisted it and the API can read it back.

The end-to-end latency — from the publish to the document being visible in ``bot_runner.bots`` — is
a measured request of its own ("custom bot: submitted → visible"); the bot-runner workers
(``estate worker bot-runner``) run beside the campaign.
"""
from __future__ import annotations

import io
import json
import random
import time
import uuid
from datetime import UTC, datetime

import gevent
from locust import task
from minio.sse import SseS3

from estate.flows.bot_runner import SUBJECT
from estate.seed import content
from estate.seed.generate import BUCKET_CUSTOM_BOTS, SYMBOLS, _zip
from estate.seed.writers import STREAM
from loadtests.flows.base import FlowUser, acknowledged

VISIBLE_TIMEOUT = 30.0
POLL = 0.02


class CustomBotUser(FlowUser):
    flow = "custom_bot"

    def on_start(self) -> None:
        super().on_start()
        self.rng = random.Random()

    @task
    def submit(self) -> None:
        bot_id, now = str(uuid.uuid4()), datetime.now(UTC)
        strategy, symbol = self.rng.choice(content.STRATEGIES), self.rng.choice(list(SYMBOLS))
        version = f"1.{self.rng.randint(0, 9)}.{self.rng.randint(0, 20)}"
        name = f"{symbol[:-4]} {content.STRATEGY_NAMES[strategy]}"
        archive = _zip(content.bot_files(strategy, name, symbol, version), now)
        key = f"{self.run_id}/{bot_id}.zip"
        with self.op("minio", "custom bot: upload zip"):
            self.minio.put_object(BUCKET_CUSTOM_BOTS, key, io.BytesIO(archive), len(archive),
                                  content_type="application/zip", sse=SseS3())
        event = {"id": bot_id, "userId": self.run_id, "filePath": key, "version": version,
                 "config": {"name": name, "runtime": "python3.11", "type": "trading",
                            "description": content.STRATEGY_DESCRIPTIONS[strategy]},
                 "settings": {"symbol": symbol, **content.STRATEGY_PARAMS[strategy]},
                 "submittedAt": now.isoformat()}
        payload = json.dumps(event).encode()
        published = time.perf_counter()
        with self.op("nats", "custom bot: publish submitted"):
            self.nats.call(lambda c: c[0].publish(SUBJECT, payload, stream=STREAM, headers={"Nats-Msg-Id": bot_id}))
        acknowledged("bot", id=bot_id, key=key)
        bots = self.mongo["bot_runner"]["bots"]
        with self.op("flow", "custom bot: submitted → visible", since=published):
            while bots.find_one({"_id": bot_id}, {"_id": 1}) is None:
                if time.perf_counter() - published > VISIBLE_TIMEOUT:
                    raise TimeoutError(f"bot {bot_id} not visible {VISIBLE_TIMEOUT:.0f}s after its event")
                gevent.sleep(POLL)
