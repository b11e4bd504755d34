"""Ordered MongoDB migrations, declared as data (``declaration``). Never edit one that has been applied:
the runner's checksum refuses it; add a new version instead. The drift comparison reads these same
declarations back against the live server.

Names follow the seeds: runtime databases bot_runner/backtest_runner/bot_scheduler (000) and bot_core
(003). Where the seeds differ, production choices win: a unique (segment_id, slot) index holds
partition capacity (the worker's placement relies on it), and audit_logs is capped rather than TTL'd
so the audit trail cannot be grown without bound by a misbehaving client.
"""
from __future__ import annotations

from estate.flows.partitions import SLOT_INDEX
from estate.migrations.mongo.declaration import Collection as C
from estate.migrations.mongo.declaration import Index as I
from estate.migrations.mongo.declaration import Migration

A, D = 1, -1
DAY = 86400


def _required(*fields: str, **types: str) -> dict:
    return {"$jsonSchema": {"bsonType": "object", "required": list(fields),
                            "properties": {k: {"bsonType": v} for k, v in types.items()}}}


def _runtime(db: str, coll: str, *indexes: tuple) -> tuple[C, ...]:
    return (C(db, coll, validator=_required("id", "user_id", id="string", user_id="string"),
              indexes=(I((("id", A),), name="id_unique", unique=True),
                       I((("segment_id", A), ("slot", A)), name=SLOT_INDEX, unique=True, sparse=True),
                       *(I(keys) for keys in indexes))),
            C(db, "partitions"),
            C(db, "counters", documents=((f"{coll}_id_sequence", {"seq": 1000}),)))


M001 = Migration("runtime databases: bots, backtests, bot_schedules with partitions, counters and indexes", (
    *_runtime("bot_runner", "bots", (("user_id", A),), (("segment_id", A), ("config.enabled", A))),
    *_runtime("backtest_runner", "backtests", (("user_id", A), ("created_at", D)), (("bot_id", A),),
              (("segment_id", A), ("status", A), ("created_at", D))),
    *_runtime("bot_scheduler", "bot_schedules", (("bot_id", A),), (("user_id", A),),
              (("segment_id", A), ("schedule.next_execution", A))),
))

M002 = Migration("bot_core: users, trades, positions, market_data, audit_logs, system_config (+ seed docs)", (
    C("bot_core", "users", validator=_required("email", "username", "password_hash", email="string", username="string"),
      indexes=(I((("email", A),), unique=True), I((("username", A),), unique=True))),
    C("bot_core", "trades", validator=_required("user_id", "symbol", "side", "quantity", "status",
                                                side="string", status="string"),
      indexes=(I((("user_id", A), ("status", A), ("created_at", D))), I((("symbol", A), ("created_at", D))))),
    C("bot_core", "positions", validator=_required("user_id", "symbol", "side", "is_open"),
      indexes=(I((("user_id", A), ("is_open", A))),)),
    C("bot_core", "market_data", timeseries={"timeField": "timestamp", "metaField": "symbol", "granularity": "minutes"},
      indexes=(I((("symbol", A), ("interval", A), ("timestamp", D))),)),
    C("bot_core", "audit_logs", capped=(256 << 20, 1_000_000), indexes=(I((("user_id", A), ("created_at", D))),)),
    C("bot_core", "sessions", indexes=(I((("expires_at", A),), ttl_seconds=0),)),
    C("bot_core", "system_config", documents=tuple((key, {"value": value}) for key, value in {
        "maintenance_mode": False, "max_bots_per_user": 10, "default_partition_capacity": 10,
        "supported_exchanges": ["binance", "coinbase", "kraken"]}.items())),
))

BOT_CORE_REST = {  # the rest of the second seed's 21 collections, with its recommended indexes
    "portfolio_snapshots": (("user_id", A), ("created_at", D)),
    "risk_metrics": (("user_id", A), ("calculated_at", D)),
    "strategy_configs": (("user_id", A), ("name", A)),
    "performance_metrics": (("user_id", A), ("period", A)),
    "ai_signals": (("symbol", A), ("created_at", D)),
    "paper_trading_accounts": (("user_id", A),),
    "paper_trading_trades": (("account_id", A), ("created_at", D)),
    "paper_trading_settings": (("user_id", A),),
    "portfolio_history": (("user_id", A), ("timestamp", D)),
    "predictions": (("model_id", A), ("created_at", D)),
    "training_jobs": (("model_id", A), ("status", A)),
    "model_performance_history": (("model_id", A), ("evaluated_at", D)),
    "ai_analysis_results": (("user_id", A), ("created_at", D)),
    "notifications": (("user_id", A), ("read", A), ("created_at", D)),
}

# Departures from the seed, as a careful operator would run it: trades get no 1-year TTL (financial
# records are kept); positions are unique per (user_id, symbol) among OPEN positions only, so a closed
# position does not block reopening the symbol.
M003 = Migration("bot_core: remaining collections of the second seed, their indexes, api_keys (sealed), TTLs", (
    *(C("bot_core", name, indexes=(I(keys),)) for name, keys in BOT_CORE_REST.items()),
    C("bot_core", "ml_models", validator=_required("model_name", "version"),
      indexes=(I((("model_name", A), ("version", A)), unique=True), I((("is_active", A), ("is_production", A))),
               I((("performance_metrics.accuracy", D),), sparse=True))),
    C("bot_core", "market_indicators", timeseries={"timeField": "timestamp", "metaField": "symbol"},
      indexes=(I((("symbol", A), ("timestamp", D))),)),
    C("bot_core", "api_keys", validator={"$jsonSchema": {
        "bsonType": "object", "required": ["user_id", "exchange", "secret_sealed"],
        "properties": {"secret_sealed": {"bsonType": "binData"}, "secret": {"not": {}}}}},
      indexes=(I((("user_id", A), ("exchange", A))),)),
    C("bot_core", "users", indexes=(I((("created_at", D),)), I((("is_active", A),)))),
    C("bot_core", "trades", indexes=(I((("status", A),)), I((("binance_order_id", A),), sparse=True))),
    C("bot_core", "positions", indexes=(
        I((("is_open", A), ("user_id", A))),
        I((("user_id", A), ("symbol", A)), name="open_position_unique", unique=True, partial={"is_open": True},
          what="unique open position per symbol (partial index)"))),
    C("bot_core", "market_data", indexes=(I((("interval", A), ("timestamp", D))),)),
    *(C("bot_core", coll, indexes=(I(((field, A),), name=f"{field}_ttl", ttl_seconds=days * DAY),))
      for coll, field, days in (("notifications", "created_at", 30), ("positions", "closed_at", 90),
                                ("market_data", "timestamp", 365))),
))

MIGRATIONS = [("001_runtime", M001), ("002_bot_core", M002), ("003_bot_core_rest", M003)]

# The checksums these versions had when they were functions that issued the same commands; a ledger
# written by them is the same migration, not a changed one.
EARLIER_CHECKSUMS = {
    "001_runtime": "789a252fb15c0b2e13ff11c9cd63e880b1397762f07a30d714000445ed5f096e",
    "002_bot_core": "5d9d3c0cc837ed065c2cf5b85986e7ae5356e2f9cf92786e3b0173fef079cf15",
    "003_bot_core_rest": "1838a3d4089c5f295caf451f44425c319f5b0f57c6a00519547caff27e5e8919",
}
