"""Backtests: create a backtest (placed in a partition, as the backtest runner does), write its result
object to backtest-results, mark it completed in MongoDB, read it back."""
from __future__ import annotations

import io
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from locust import task
from minio.sse import SseS3

from estate.flows.partitions import Partitions
from estate.seed.generate import BUCKET_BACKTESTS
from loadtests.flows.base import FlowUser, acknowledged, seeded


class BacktestUser(FlowUser):
    flow = "backtests"

    def on_start(self) -> None:
        super().on_start()
        self.rng = random.Random()

    @task
    def run_backtest(self) -> None:
        db = self.mongo["backtest_runner"]
        bot = self.rng.choice(seeded()["bots"])
        settings = bot.get("config", {}).get("settings", {})
        bt_id, now = str(uuid.uuid4()), datetime.now(UTC)
        doc = {"_id": bt_id, "id": bt_id, "user_id": self.run_id, "bot_id": bot["_id"], "status": "running",
               "config": {"symbol": settings.get("symbol", "BTCUSDT"), "interval": settings.get("interval", "1h"),
                          "start_date": now - timedelta(days=91), "end_date": now - timedelta(days=1),
                          "initial_capital": self.rng.choice([1000, 5000, 10000]), "fee_rate": 0.001},
               "created_at": now}
        with self.op("mongo", "backtest: create"):
            Partitions(db["backtests"], db["partitions"]).place(doc)
        trades = [{"side": self.rng.choice(["BUY", "SELL"]), "pnl": round(self.rng.gauss(5, 40), 2)}
                  for _ in range(self.rng.randint(5, 12))]
        results = {"performance": {"total_return": round(self.rng.gauss(0.04, 0.12), 4),
                                   "sharpe_ratio": round(self.rng.gauss(1.1, 0.6), 2),
                                   "win_rate": round(self.rng.uniform(0.38, 0.68), 3)},
                   "trades": trades, "metrics": {"total_trades": len(trades)}}
        key = f"{self.run_id}/{bt_id}/results.json"
        body = json.dumps({"backtest_id": bt_id, "bot_id": bot["_id"], **results}, indent=2).encode()
        with self.op("minio", "backtest: put result"):
            self.minio.put_object(BUCKET_BACKTESTS, key, io.BytesIO(body), len(body),
                                  content_type="application/json", sse=SseS3())
        with self.op("mongo", "backtest: mark completed"):
            db["backtests"].update_one({"_id": bt_id}, {"$set": {
                "status": "completed", "results": results, "results_path": key, "completed_at": datetime.now(UTC)}})
        acknowledged("backtest", id=bt_id, key=key)
        with self.op("mongo", "backtest: read"):
            got = db["backtests"].find_one({"_id": bt_id})
            if not got or got.get("status") != "completed":
                raise AssertionError(f"backtest {bt_id} reads back as {got and got.get('status')}")
