"""Ordered MongoDB migrations. Never edit one that has been applied: the runner's checksum refuses it.

Names follow the seeds: runtime databases bot_runner/backtest_runner/bot_scheduler (000) and bot_core
(003). Where the seeds differ, production choices win: a unique (segment_id, slot) index holds
partition capacity (the worker's placement relies on it), and audit_logs is capped rather than TTL'd
so the audit trail cannot be grown without bound by a misbehaving client.
"""
from __future__ import annotations

from pymongo import ASCENDING as A
from pymongo import DESCENDING as D
from pymongo.errors import CollectionInvalid, OperationFailure

from estate.flows.partitions import SLOT_INDEX

RUNTIME = {"bot_runner": ("bots", [[("user_id", A)], [("segment_id", A), ("config.enabled", A)]]),
           "backtest_runner": ("backtests", [[("user_id", A), ("created_at", D)], [("bot_id", A)],
                                             [("segment_id", A), ("status", A), ("created_at", D)]]),
           "bot_scheduler": ("bot_schedules", [[("bot_id", A)], [("user_id", A)],
                                               [("segment_id", A), ("schedule.next_execution", A)]])}


def _create(ctx, db: str, name: str, **opts) -> None:
    if name in ctx.client[db].list_collection_names():
        return
    validator = opts.pop("validator", None)
    if validator and ctx.can("json_schema_validation", f"{db}.{name} validator"):
        opts["validator"], opts["validationLevel"] = validator, "moderate"
    try:
        ctx.client[db].create_collection(name, **opts)
    except CollectionInvalid:
        pass


def _required(*fields: str, **types: str) -> dict:
    return {"$jsonSchema": {"bsonType": "object", "required": list(fields),
                            "properties": {k: {"bsonType": v} for k, v in types.items()}}}


def m001_runtime(ctx) -> None:
    """runtime databases: bots, backtests, bot_schedules with partitions, counters and indexes"""
    for db, (coll, indexes) in RUNTIME.items():
        _create(ctx, db, coll, validator=_required("id", "user_id", id="string", user_id="string"))
        c = ctx.client[db][coll]
        c.create_index([("id", A)], unique=True, name="id_unique")
        c.create_index([("segment_id", A), ("slot", A)], unique=True, sparse=True, name=SLOT_INDEX)
        for keys in indexes:
            c.create_index(keys)
        _create(ctx, db, "partitions")
        _create(ctx, db, "counters")
        ctx.client[db]["counters"].update_one({"_id": f"{coll}_id_sequence"}, {"$setOnInsert": {"seq": 1000}},
                                              upsert=True)


def m002_bot_core(ctx) -> None:
    """bot_core: users, trades, positions, market_data, audit_logs, system_config (+ seed docs)"""
    db = ctx.client["bot_core"]
    _create(ctx, "bot_core", "users", validator=_required("email", "username", "password_hash",
                                                           email="string", username="string"))
    db.users.create_index([("email", A)], unique=True)
    db.users.create_index([("username", A)], unique=True)
    _create(ctx, "bot_core", "trades", validator=_required("user_id", "symbol", "side", "quantity", "status",
                                                            side="string", status="string"))
    db.trades.create_index([("user_id", A), ("status", A), ("created_at", D)])
    db.trades.create_index([("symbol", A), ("created_at", D)])
    _create(ctx, "bot_core", "positions", validator=_required("user_id", "symbol", "side", "is_open"))
    db.positions.create_index([("user_id", A), ("is_open", A)])
    if ctx.can("time_series", "bot_core.market_data as time-series"):
        _create(ctx, "bot_core", "market_data", timeseries={"timeField": "timestamp", "metaField": "symbol",
                                                             "granularity": "minutes"})
    else:
        _create(ctx, "bot_core", "market_data")
    db.market_data.create_index([("symbol", A), ("interval", A), ("timestamp", D)])
    try:
        _create(ctx, "bot_core", "audit_logs", capped=True, size=256 << 20, max=1_000_000)
    except OperationFailure as exc:
        ctx.skipped.append(f"bot_core.audit_logs capped: server lacks capped collections ({exc.code})")
        _create(ctx, "bot_core", "audit_logs")
    db.audit_logs.create_index([("user_id", A), ("created_at", D)])
    _create(ctx, "bot_core", "sessions")
    if ctx.can("ttl_indexes", "bot_core.sessions TTL on expires_at"):
        db.sessions.create_index([("expires_at", A)], expireAfterSeconds=0)
    _create(ctx, "bot_core", "system_config")
    for key, value in {"maintenance_mode": False, "max_bots_per_user": 10, "default_partition_capacity": 10,
                       "supported_exchanges": ["binance", "coinbase", "kraken"]}.items():
        db.system_config.update_one({"_id": key}, {"$setOnInsert": {"value": value}}, upsert=True)


def _index(ctx, coll, keys, what: str, **opts) -> None:
    """create_index, recording a server that rejects the option as not implemented (probed, not assumed)."""
    try:
        coll.create_index(keys, **opts)
    except OperationFailure as exc:
        if "not implemented" not in str(exc):
            raise
        ctx.skipped.append(f"{coll.full_name} {what}: server lacks {exc.details.get('errmsg', exc).split(',')[0]}")


BOT_CORE_REST = {  # the rest of the second seed's 21 collections, with its recommended indexes
    "portfolio_snapshots": [[("user_id", A), ("created_at", D)]],
    "risk_metrics": [[("user_id", A), ("calculated_at", D)]],
    "strategy_configs": [[("user_id", A), ("name", A)]],
    "performance_metrics": [[("user_id", A), ("period", A)]],
    "ai_signals": [[("symbol", A), ("created_at", D)]],
    "paper_trading_accounts": [[("user_id", A)]],
    "paper_trading_trades": [[("account_id", A), ("created_at", D)]],
    "paper_trading_settings": [[("user_id", A)]],
    "portfolio_history": [[("user_id", A), ("timestamp", D)]],
    "predictions": [[("model_id", A), ("created_at", D)]],
    "training_jobs": [[("model_id", A), ("status", A)]],
    "model_performance_history": [[("model_id", A), ("evaluated_at", D)]],
    "ai_analysis_results": [[("user_id", A), ("created_at", D)]],
    "notifications": [[("user_id", A), ("read", A), ("created_at", D)]],
}


def m003_bot_core_rest(ctx) -> None:
    """bot_core: remaining collections of the second seed, their indexes, api_keys (sealed), TTLs

    Departures from the seed, as a careful operator would run it: trades get no 1-year TTL (financial
    records are kept); positions are unique per (user_id, symbol) among OPEN positions only, so a
    closed position does not block reopening the symbol.
    """
    db = ctx.client["bot_core"]
    for name, indexes in BOT_CORE_REST.items():
        _create(ctx, "bot_core", name)
        for keys in indexes:
            db[name].create_index(keys)
    _create(ctx, "bot_core", "ml_models", validator=_required("model_name", "version"))
    db.ml_models.create_index([("model_name", A), ("version", A)], unique=True)
    db.ml_models.create_index([("is_active", A), ("is_production", A)])
    db.ml_models.create_index([("performance_metrics.accuracy", D)], sparse=True)
    if ctx.can("time_series", "bot_core.market_indicators as time-series"):
        _create(ctx, "bot_core", "market_indicators", timeseries={"timeField": "timestamp", "metaField": "symbol"})
    else:
        _create(ctx, "bot_core", "market_indicators")
    db.market_indicators.create_index([("symbol", A), ("timestamp", D)])
    _create(ctx, "bot_core", "api_keys", validator={"$jsonSchema": {
        "bsonType": "object", "required": ["user_id", "exchange", "secret_sealed"],
        "properties": {"secret_sealed": {"bsonType": "binData"}, "secret": {"not": {}}}}})
    db.api_keys.create_index([("user_id", A), ("exchange", A)])
    db.users.create_index([("created_at", D)])
    db.users.create_index([("is_active", A)])
    db.trades.create_index([("status", A)])
    db.trades.create_index([("binance_order_id", A)], sparse=True)
    db.positions.create_index([("is_open", A), ("user_id", A)])
    _index(ctx, db.positions, [("user_id", A), ("symbol", A)], "unique open position per symbol (partial index)",
           unique=True, partialFilterExpression={"is_open": True}, name="open_position_unique")
    db.market_data.create_index([("interval", A), ("timestamp", D)])
    for coll, field, days in (("notifications", "created_at", 30), ("positions", "closed_at", 90),
                              ("market_data", "timestamp", 365)):
        if ctx.can("ttl_indexes", f"bot_core.{coll} TTL {days}d on {field}"):
            db[coll].create_index([(field, A)], expireAfterSeconds=days * 86400, name=f"{field}_ttl")


MIGRATIONS = [("001_runtime", m001_runtime), ("002_bot_core", m002_bot_core), ("003_bot_core_rest", m003_bot_core_rest)]
