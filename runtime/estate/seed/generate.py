"""The deterministic data generator: (seed, scale, as-of) -> a Dataset, touching no store.

Every id is drawn from a random stream named after (seed, scale, kind), so the same arguments give
byte-identical data and two datasets (another seed or scale) never share an id. Prices follow a
random walk per symbol; trades, positions and audit entries are priced and timed from those candles;
chat sessions, bots, backtests and schedules belong to the seeded users.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import random
import struct
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bson import ObjectId

from estate import api_keys
from estate.api_keys import ApiKey
from estate.seed import content

# Rows per unit of scale; everything else follows from these.
PER_SCALE = {"users": 50, "chat_sessions": 60, "bots": 20, "backtests": 10, "schedules": 10,
             "trades": 1000, "audit_logs": 500, "candles_per_symbol": 300}
EXCHANGES = ["binance", "bybit", "okx", "kraken"]
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# symbol -> (start price, decimals of the price, decimals of the quantity, weight in trading)
SYMBOLS = {"BTCUSDT": (67_250.0, 2, 5, 30), "ETHUSDT": (3_420.0, 2, 4, 25), "SOLUSDT": (152.3, 2, 2, 15),
           "BNBUSDT": (587.4, 2, 3, 10), "XRPUSDT": (0.5231, 4, 0, 10), "ADAUSDT": (0.4412, 4, 0, 10)}

# Buckets and the key layout of the first seed (bucket -> key template).
BUCKET_CUSTOM_BOTS = "custom-bots"      # {userId}/{botId}.zip
BUCKET_BOT_CODE = "bot-code"            # {userId}/{botId}/{file}
BUCKET_BACKTESTS = "backtest-results"   # {userId}/{backtestId}/results.json
BUCKET_AI_ARTIFACTS = "ai-artifacts"    # sessions/{sessionId}/{filename}


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple] = field(default_factory=list)


@dataclass
class Obj:
    bucket: str
    key: str
    data: bytes
    content_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Event:
    """One JetStream message; its payload is built from ``doc`` when published (after segment assignment)."""

    subject: str
    msg_id: str  # Nats-Msg-Id: JetStream drops a republish with the same id inside the duplicate window
    doc: dict


@dataclass
class Dataset:
    seed: int
    scale: int
    as_of: datetime
    tables: dict[str, Table] = field(default_factory=dict)          # PostgreSQL, in load order
    collections: dict[str, list[dict]] = field(default_factory=dict)  # "db.collection" -> documents
    objects: list[Obj] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)  # secrets in clear: written only once sealed

    def seal_api_keys(self, key: bytes) -> None:
        """Add the API keys, secrets sealed with ``key``, to the PostgreSQL tables and MongoDB collections."""
        self.tables["exchange_api_keys"] = Table(list(api_keys.PG_COLUMNS), [api_keys.pg_row(key, k) for k in self.api_keys])
        self.collections["bot_core.api_keys"] = [api_keys.mongo_doc(key, k) for k in self.api_keys]

    def counts(self) -> dict[str, int]:
        return {"postgres": sum(len(t.rows) for t in self.tables.values()),
                "mongo": sum(len(d) for d in self.collections.values()),
                "nats": len(self.events), "minio": len(self.objects)}


class _Ids:
    """Named deterministic random streams for one dataset."""

    def __init__(self, seed: int, scale: int):
        self.seed, self.scale = seed, scale

    def rng(self, kind: str) -> random.Random:
        return random.Random(f"estate-seed:{self.seed}:{self.scale}:{kind}")

    @staticmethod
    def uuid(rng: random.Random) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    @staticmethod
    def object_id(rng: random.Random, at: datetime) -> ObjectId:
        # like the server's: 4 bytes of creation time, then 8 random bytes
        return ObjectId(struct.pack(">I", int(at.timestamp())) + rng.getrandbits(64).to_bytes(8, "big"))


def default_as_of(now: datetime | None = None) -> datetime:
    """Midnight UTC on the first of the current month: stable for weeks, recent enough for TTL indexes."""
    now = now or datetime.now(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def generate(seed: int, scale: int, as_of: datetime | None = None) -> Dataset:
    """The whole dataset for (seed, scale, as-of)."""
    as_of = (as_of or default_as_of()).astimezone(UTC)
    ds = Dataset(seed=seed, scale=scale, as_of=as_of)
    ids = _Ids(seed, scale)
    n = {k: v * scale for k, v in PER_SCALE.items()}

    candles = _market_data(ids, as_of, n["candles_per_symbol"])
    users = _users(ids, as_of, n["users"])
    trades = _trades(ids, users, candles, n["trades"])
    bots = _bots(ids, ds, users, as_of, n["bots"])
    backtests = _backtests(ids, ds, bots, as_of, n["backtests"])
    schedules = _schedules(ids, bots, as_of, n["schedules"])
    ds.collections = {
        "bot_core.users": users,
        "bot_core.market_data": [c for series in candles.values() for c in series],
        "bot_core.trades": trades,
        "bot_core.positions": _positions(ids, users, candles),
        "bot_core.audit_logs": _audit_logs(ids, users, trades, bots, n["audit_logs"]),
        "bot_runner.bots": bots,
        "backtest_runner.backtests": backtests,
        "bot_scheduler.bot_schedules": schedules,
    }
    _chat(ids, ds, users, as_of, n["chat_sessions"])
    ds.api_keys = _api_keys(ids, users, as_of)
    ds.events = ([Event("the0.bot.created", f"the0.bot.created:{b['id']}", b) for b in bots]
                 + [Event("the0.bot-schedule.created", f"the0.bot-schedule.created:{s['id']}", s) for s in schedules]
                 + [Event("the0.backtest.created", f"the0.backtest.created:{b['id']}", b) for b in backtests]
                 + [Event("the0.backtest.completed", f"the0.backtest.completed:{b['id']}", b)
                    for b in backtests if b["status"] == "completed"])
    return ds


# --- bot_core -------------------------------------------------------------------------------------

def _market_data(ids: _Ids, as_of: datetime, per_symbol: int) -> dict[str, list[dict]]:
    """One-minute OHLCV candles ending at as-of: a geometric random walk per symbol."""
    out: dict[str, list[dict]] = {}
    start = as_of - timedelta(minutes=per_symbol)
    for symbol, (price, dec, _, _) in SYMBOLS.items():
        rng = ids.rng(f"candles:{symbol}")
        sigma = 0.0009 if symbol.startswith("BTC") else 0.0013
        series = []
        close = price
        for i in range(per_symbol):
            ts = start + timedelta(minutes=i)
            open_ = close
            close = open_ * math.exp(rng.gauss(0.0, sigma))
            high = max(open_, close) * (1 + abs(rng.gauss(0.0, sigma / 2)))
            low = min(open_, close) * (1 - abs(rng.gauss(0.0, sigma / 2)))
            volume = rng.lognormvariate(math.log(1_500_000 / price), 0.6)  # ~1.5M USDT a minute, as on a major venue
            series.append({
                "_id": ids.object_id(rng, ts), "symbol": symbol, "interval": "1m", "timestamp": ts,
                "open": round(open_, dec), "high": round(high, dec), "low": round(low, dec),
                "close": round(close, dec), "volume": round(volume, 4),
                "quote_volume": round(volume * (open_ + close) / 2, 2), "trades_count": rng.randint(40, 2400),
            })
        out[symbol] = series
    return out


def _users(ids: _Ids, as_of: datetime, count: int) -> list[dict]:
    rng = ids.rng("users")
    tag = f"{ids.seed:x}{ids.scale:x}"
    users = []
    for i in range(count):
        first, last = rng.choice(content.FIRST_NAMES), rng.choice(content.LAST_NAMES)
        created = as_of - timedelta(days=rng.uniform(3, 720))
        users.append({
            "_id": ids.object_id(rng, created),
            "email": f"{first.lower()}.{last.lower()}.{tag}.{i}@{rng.choice(content.MAIL_DOMAINS)}",
            "username": f"{first.lower()}{last[0].lower()}{i}",
            "full_name": f"{first} {last}",
            "password_hash": "$2b$12$" + "".join(rng.choice(content.BCRYPT_ALPHABET) for _ in range(53)),
            "is_active": rng.random() < 0.94,
            "is_admin": i == 0,
            "settings": {
                "risk_level": rng.choice(["low", "medium", "medium", "high"]),
                "default_leverage": rng.choice([1, 1, 2, 3, 5, 10]),
                "max_position_size_usdt": rng.choice([500, 1000, 2500, 5000, 10000]),
                "preferred_symbols": rng.sample(list(SYMBOLS), 3),
                "notifications": {"email": rng.random() < 0.7, "telegram": rng.random() < 0.3},
                "timezone": rng.choice(content.TIMEZONES),
            },
            "created_at": created,
            "updated_at": created + timedelta(days=rng.uniform(0, (as_of - created).days)),
            "last_login": as_of - timedelta(hours=rng.uniform(1, 24 * 30)),
        })
    return users


def _api_keys(ids: _Ids, users: list[dict], as_of: datetime) -> list[ApiKey]:
    """About 40% of users have connected one or two exchanges."""
    rng = ids.rng("api_keys")
    keys = []
    for user in users:
        if rng.random() >= 0.4:
            continue
        for exchange in rng.sample(EXCHANGES, rng.choice([1, 1, 2])):
            created = user["created_at"] + (as_of - user["created_at"]) * rng.random()
            keys.append(ApiKey(ids.object_id(rng, created), str(user["_id"]), exchange,
                               "".join(rng.choice(KEY_ALPHABET) for _ in range(64)),
                               "".join(rng.choice(KEY_ALPHABET) for _ in range(64)), created))
    return keys


def _weighted_symbol(rng: random.Random) -> str:
    return rng.choices(list(SYMBOLS), weights=[w for *_, w in SYMBOLS.values()])[0]


def _trades(ids: _Ids, users: list[dict], candles: dict[str, list[dict]], count: int) -> list[dict]:
    rng = ids.rng("trades")
    statuses = ["FILLED", "PARTIALLY_FILLED", "CANCELLED", "PENDING", "FAILED"]
    trades = []
    order_id = 1_000_000_000 + rng.randrange(10**9)
    for _ in range(count):
        symbol = _weighted_symbol(rng)
        _, dec, qdec, _ = SYMBOLS[symbol]
        candle = rng.choice(candles[symbol])
        price = round(rng.uniform(candle["low"], candle["high"]), dec)
        qty = round(rng.uniform(50, 5000) / price, qdec) or 1.0
        created = candle["timestamp"] + timedelta(seconds=rng.uniform(0, 59.9))
        side = rng.choice(["BUY", "SELL"])
        status = rng.choices(statuses, weights=[78, 5, 10, 4, 3])[0]
        filled = qty if status == "FILLED" else round(qty * rng.uniform(0.1, 0.9), qdec) if status == "PARTIALLY_FILLED" else 0.0
        notional = filled * price
        pnl = round(notional * rng.gauss(0.002, 0.012), 2) if side == "SELL" and filled else 0.0
        user = rng.choice(users)
        trade = {
            "_id": ids.object_id(rng, created), "user_id": user["_id"], "symbol": symbol, "side": side,
            "order_type": rng.choices(["MARKET", "LIMIT", "STOP_LOSS", "TAKE_PROFIT"], weights=[55, 35, 5, 5])[0],
            "quantity": qty, "filled_quantity": filled, "price": price, "status": status,
            "fee": round(notional * 0.001, 6), "fee_asset": "USDT", "pnl": pnl,
            "strategy": rng.choice(content.STRATEGIES), "created_at": created,
            "updated_at": created + timedelta(milliseconds=rng.randint(5, 4000)),
        }
        if status not in ("PENDING", "FAILED"):  # only orders the exchange accepted carry its id (sparse index)
            order_id += rng.randint(1, 5000)
            trade["binance_order_id"] = order_id
        if filled:
            trade["executed_at"] = trade["updated_at"]
        trades.append(trade)
    return trades


def _positions(ids: _Ids, users: list[dict], candles: dict[str, list[dict]]) -> list[dict]:
    rng = ids.rng("positions")
    positions = []
    for user in users:
        for symbol in rng.sample(list(SYMBOLS), rng.randint(0, 4)):  # unique (user_id, symbol)
            _, dec, qdec, _ = SYMBOLS[symbol]
            series = candles[symbol]
            entry_candle = rng.choice(series[: max(1, len(series) // 2)])
            entry, current = entry_candle["close"], series[-1]["close"]
            side = rng.choice(["LONG", "SHORT"])
            direction = 1 if side == "LONG" else -1
            qty = round(rng.uniform(100, 8000) / entry, qdec) or 1.0
            opened = entry_candle["timestamp"]
            is_open = rng.random() < 0.7
            pos = {
                "_id": ids.object_id(rng, opened), "user_id": user["_id"], "symbol": symbol, "side": side,
                "quantity": qty, "entry_price": entry, "current_price": current, "leverage": rng.choice([1, 2, 3, 5]),
                "stop_loss": round(entry * (1 - 0.03 * direction), dec),
                "take_profit": round(entry * (1 + 0.06 * direction), dec),
                "unrealized_pnl": round((current - entry) * qty * direction, 2) if is_open else 0.0,
                "realized_pnl": 0.0, "is_open": is_open, "opened_at": opened, "updated_at": series[-1]["timestamp"],
            }
            if not is_open:
                exit_candle = rng.choice(series[series.index(entry_candle):])
                pos["realized_pnl"] = round((exit_candle["close"] - entry) * qty * direction, 2)
                pos["closed_at"] = exit_candle["timestamp"]
                pos["current_price"] = exit_candle["close"]
            positions.append(pos)
    return positions


def _audit_logs(ids: _Ids, users: list[dict], trades: list[dict], bots: list[dict], count: int) -> list[dict]:
    """Every entry names a real user, and where it names a trade or bot, a real one."""
    rng = ids.rng("audit_logs")
    logs = []
    for _ in range(count):
        kind = rng.choices(["order", "auth", "bot", "settings"], weights=[55, 30, 8, 7])[0]
        if kind == "order":
            trade = rng.choice(trades)
            action = {"CANCELLED": "order.cancelled", "FAILED": "order.rejected"}.get(trade["status"], "order.placed")
            user_id, resource, at = trade["user_id"], ("trade", str(trade["_id"])), trade["created_at"]
            details = {"symbol": trade["symbol"], "side": trade["side"], "quantity": trade["quantity"]}
        elif kind == "bot":
            bot = rng.choice(bots)
            action, resource, at = "bot.deployed", ("bot", bot["id"]), bot["custom"]["createdAt"]
            user_id, details = ObjectId(bot["user_id"]), {"name": bot["custom"]["config"]["name"]}
        else:
            user = rng.choice(users)
            at = user["last_login"] - timedelta(minutes=rng.uniform(0, 600))
            action = rng.choice(["auth.login", "auth.login", "auth.login_failed", "auth.logout"]) if kind == "auth" \
                else rng.choice(["settings.updated", "api_key.created", "api_key.revoked"])
            user_id, resource, details = user["_id"], ("user", str(user["_id"])), {}
        logs.append({
            "_id": ids.object_id(rng, at), "user_id": user_id, "action": action,
            "resource_type": resource[0], "resource_id": resource[1], "details": details,
            "ip_address": f"{rng.choice(content.IP_PREFIXES)}.{rng.randint(1, 254)}",
            "user_agent": rng.choice(content.USER_AGENTS), "success": action != "auth.login_failed",
            "created_at": at,
        })
    logs.sort(key=lambda d: d["created_at"])  # a capped collection keeps insertion order
    return logs


# --- runtime services (bot_runner, backtest_runner, bot_scheduler) ------------------------------

def _bots(ids: _Ids, ds: Dataset, users: list[dict], as_of: datetime, count: int) -> list[dict]:
    """Bot documents, each with its ZIP in custom-bots and its extracted code in bot-code."""
    rng = ids.rng("bots")
    bots = []
    for _ in range(count):
        user = rng.choice(users)
        bot_id, user_id = _Ids.uuid(rng), str(user["_id"])
        created = as_of - timedelta(days=rng.uniform(0.5, 120))
        strategy = rng.choice(content.STRATEGIES)
        symbol = _weighted_symbol(rng)
        version = f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}"
        name = f"{symbol[:-4]} {content.STRATEGY_NAMES[strategy]}"
        files = content.bot_files(strategy, name, symbol, version)
        zip_key = f"{user_id}/{bot_id}.zip"
        ds.objects.append(Obj(BUCKET_CUSTOM_BOTS, zip_key, _zip(files, created), "application/zip"))
        for fname, body in files.items():
            ds.objects.append(Obj(BUCKET_BOT_CODE, f"{user_id}/{bot_id}/{fname}", body, content.mime_type(fname)))
        bots.append({
            "_id": bot_id, "id": bot_id, "user_id": user_id,
            "config": {"enabled": rng.random() < 0.8, "settings": {
                "symbol": symbol, "interval": rng.choice(["1m", "5m", "15m", "1h"]),
                "amount_usdt": rng.choice([100, 250, 500, 1000]), **content.STRATEGY_PARAMS[strategy]}},
            "custom": {
                "version": version,
                "config": {"name": name, "description": content.STRATEGY_DESCRIPTIONS[strategy],
                           "runtime": "python3.11", "version": version, "author": user["full_name"],
                           "type": "trading", "entrypoints": {"bot": "main.py", "backtest": "backtest.py"},
                           "schema": content.bot_schema(strategy), "readme": files["README.md"].decode(),
                           "metadata": {"categories": ["crypto", strategy], "instruments": [symbol]}},
                "filePath": zip_key,  # key in the custom-bots bucket, as the 0vers33r service reads it
                "createdAt": created, "updatedAt": created + timedelta(minutes=rng.uniform(0, 600)),
            },
        })
    return bots


def _zip(files: dict[str, bytes], at: datetime) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in files.items():
            info = zipfile.ZipInfo(name, date_time=at.timetuple()[:6])  # fixed timestamps: same bytes every run
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body)
    return buf.getvalue()


def _backtests(ids: _Ids, ds: Dataset, bots: list[dict], as_of: datetime, count: int) -> list[dict]:
    rng = ids.rng("backtests")
    out = []
    for _ in range(count):
        bot = rng.choice(bots)
        bt_id = _Ids.uuid(rng)
        created = as_of - timedelta(days=rng.uniform(0.1, 60))
        status = rng.choices(["completed", "running", "failed"], weights=[70, 15, 15])[0]
        symbol = bot["config"]["settings"]["symbol"]
        doc = {"_id": bt_id, "id": bt_id, "user_id": bot["user_id"], "bot_id": bot["id"], "status": status,
               "config": {"symbol": symbol, "interval": bot["config"]["settings"]["interval"],
                          "start_date": created - timedelta(days=90), "end_date": created - timedelta(days=1),
                          "initial_capital": rng.choice([1000, 5000, 10000]), "fee_rate": 0.001},
               "created_at": created}
        if status == "completed":
            total_return = rng.gauss(0.04, 0.12)
            trades = [{"side": rng.choice(["BUY", "SELL"]), "pnl": round(rng.gauss(5, 40), 2)} for _ in range(rng.randint(5, 12))]
            doc["results"] = {
                "performance": {"total_return": round(total_return, 4), "sharpe_ratio": round(rng.gauss(1.1, 0.6), 2),
                                "max_drawdown": round(-abs(rng.gauss(0.08, 0.05)), 4),
                                "win_rate": round(rng.uniform(0.38, 0.68), 3)},
                "trades": trades,
                "metrics": {"total_trades": len(trades), "profit_factor": round(rng.uniform(0.7, 2.3), 2)},
            }
            doc["results_path"] = f"{bot['user_id']}/{bt_id}/results.json"  # key in backtest-results
            doc["completed_at"] = created + timedelta(minutes=rng.uniform(1, 45))
            body = json.dumps({"backtest_id": bt_id, "bot_id": bot["id"], **doc["results"]}, indent=2).encode()
            ds.objects.append(Obj(BUCKET_BACKTESTS, doc["results_path"], body, "application/json"))
        elif status == "failed":
            doc["error"] = rng.choice(["insufficient historical data for the interval", "bot raised ZeroDivisionError in on_candle",
                                       "backtest exceeded 30 minute limit"])
        out.append(doc)
    return out


def _schedules(ids: _Ids, bots: list[dict], as_of: datetime, count: int) -> list[dict]:
    rng = ids.rng("schedules")
    out = []
    for _ in range(count):
        bot = rng.choice(bots)
        sid = _Ids.uuid(rng)
        cron, tz = rng.choice(content.CRONS), rng.choice(content.TIMEZONES)
        out.append({"_id": sid, "id": sid, "bot_id": bot["id"], "user_id": bot["user_id"],
                    "schedule": {"enabled": rng.random() < 0.85, "cron": cron, "timezone": tz,
                                 "next_execution": as_of + timedelta(minutes=rng.randint(1, 60 * 24))},
                    "created_at": as_of - timedelta(days=rng.uniform(0.1, 30))})
    return out


# --- PostgreSQL: AI chat -------------------------------------------------------------------------

def _naive(at: datetime) -> datetime:
    """The chat tables use TIMESTAMP WITHOUT TIME ZONE holding UTC."""
    return at.astimezone(UTC).replace(tzinfo=None)


def _chat(ids: _Ids, ds: Dataset, users: list[dict], as_of: datetime, count: int) -> None:
    """Chat sessions with their messages and artifacts; each artifact's bytes go to ai-artifacts."""
    rng = ids.rng("chat")
    sessions = Table(["id", "user_id", "title", "is_active", "created_at", "updated_at"])
    messages = Table(["session_id", "role", "content", "artifacts_created", "timestamp"])
    artifacts = Table(["session_id", "filename", "file_path", "mime_type", "version", "created_at", "updated_at"])
    for _ in range(count):
        sid = _Ids.uuid(rng)
        user = rng.choice(users)
        strategy, symbol = rng.choice(content.STRATEGIES), _weighted_symbol(rng)
        at = as_of - timedelta(days=rng.uniform(0.01, 90))
        created = at
        turns = rng.randint(1, 7)
        made: list[str] = []
        for turn in range(turns):
            messages.rows.append((sid, "user", content.user_message(rng, strategy, symbol, turn), None, _naive(at)))
            at += timedelta(seconds=rng.uniform(2, 40))
            new = content.artifacts_for_turn(rng, turn, made)
            messages.rows.append((sid, "assistant", content.assistant_message(rng, strategy, symbol, new), new or None, _naive(at)))
            for fname in new:
                body = content.artifact_body(fname, strategy, symbol)
                key = f"sessions/{sid}/{fname}"
                ds.objects.append(Obj(BUCKET_AI_ARTIFACTS, key, body, content.mime_type(fname)))
                artifacts.rows.append((sid, fname, key, content.mime_type(fname), 1, _naive(at), _naive(at)))
            made += new
            at += timedelta(minutes=rng.uniform(0.5, 30))
        sessions.rows.append((sid, str(user["_id"]), content.session_title(strategy, symbol),
                              rng.random() < 0.8, _naive(created), _naive(at)))
    ds.tables = {"chat_sessions": sessions, "chat_messages": messages, "artifacts": artifacts,
                 "settings": Table(["key", "value"], list(content.AI_SETTINGS.items()))}
