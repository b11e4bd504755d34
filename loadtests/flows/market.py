"""Market data and trades in bot_core: time-range queries over the seed's one-minute candles and a
user's trades, candle and trade inserts shaped as the seed writes them."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from locust import task

from estate.seed.generate import SYMBOLS, _weighted_symbol
from loadtests.flows.base import FlowUser, acknowledged, seeded

STATUSES = ["FILLED", "PARTIALLY_FILLED", "CANCELLED", "PENDING", "FAILED"]


class MarketUser(FlowUser):
    flow = "market"

    def on_start(self) -> None:
        super().on_start()
        self.rng = random.Random()

    def _core(self):
        return self.mongo["bot_core"]

    def _window(self, minutes: int) -> tuple[datetime, datetime]:
        first, last = seeded()["candles"]
        span = max(0, int((last - first).total_seconds() // 60) - minutes)
        start = first + timedelta(minutes=self.rng.randint(0, span))
        return start, start + timedelta(minutes=minutes)

    @task(4)
    def candles_range(self) -> None:
        start, end = self._window(60)
        with self.op("mongo", "market: candles in a 1 h range"):
            list(self._core()["market_data"].find({"symbol": _weighted_symbol(self.rng), "interval": "1m",
                                                   "timestamp": {"$gte": start, "$lt": end}}).sort("timestamp", 1))

    @task(1)
    def insert_candle(self) -> None:
        symbol = self.rng.choice(list(SYMBOLS))
        price, dec = SYMBOLS[symbol][0], SYMBOLS[symbol][1]
        close = round(price * (1 + self.rng.gauss(0, 0.002)), dec)
        candle = {"_id": ObjectId(), "symbol": symbol, "interval": "1m", "timestamp": datetime.now(UTC).replace(second=0, microsecond=0),
                  "open": round(price, dec), "high": max(round(price, dec), close), "low": min(round(price, dec), close),
                  "close": close, "volume": round(self.rng.lognormvariate(5, 0.6), 4), "trades_count": self.rng.randint(40, 2400),
                  "load_run": self.run_id}
        with self.op("mongo", "market: insert candle"):
            self._core()["market_data"].insert_one(candle)
        acknowledged("candle", id=str(candle["_id"]))

    @task(3)
    def trades_of_a_user(self) -> None:
        start, end = self._window(240)
        with self.op("mongo", "trades: a user's in a range"):
            list(self._core()["trades"].find({"user_id": self.rng.choice(seeded()["traders"]),
                                              "created_at": {"$gte": start - timedelta(days=1), "$lt": end}})
                 .sort("created_at", -1).limit(50))

    @task(2)
    def trades_of_a_symbol(self) -> None:
        start, end = self._window(30)
        with self.op("mongo", "trades: a symbol's in a range"):
            list(self._core()["trades"].find({"symbol": _weighted_symbol(self.rng),
                                              "created_at": {"$gte": start, "$lt": end}}).sort("created_at", -1))

    @task(2)
    def insert_trade(self) -> None:
        symbol = _weighted_symbol(self.rng)
        price, dec, qdec, _ = SYMBOLS[symbol]
        qty = round(self.rng.uniform(50, 5000) / price, qdec) or 1.0
        status = self.rng.choices(STATUSES, weights=[78, 5, 10, 4, 3])[0]
        filled = qty if status == "FILLED" else 0.0
        now = datetime.now(UTC)
        trade = {"_id": ObjectId(), "user_id": ObjectId(self.run_id), "symbol": symbol, "side": self.rng.choice(["BUY", "SELL"]),
                 "order_type": "MARKET", "quantity": qty, "filled_quantity": filled, "price": price, "status": status,
                 "fee": round(filled * price * 0.001, 6), "fee_asset": "USDT", "pnl": 0.0, "strategy": "load",
                 "created_at": now, "updated_at": now}
        with self.op("mongo", "trades: insert"):
            self._core()["trades"].insert_one(trade)
        acknowledged("trade", id=str(trade["_id"]))
