"""Word lists and text templates that make seeded data read like a trading platform's."""
from __future__ import annotations

import json
import random

FIRST_NAMES = ["Ana", "Ben", "Chen", "Dara", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Lars",
               "Maya", "Nikhil", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Yara"]
LAST_NAMES = ["Adeyemi", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
              "Kowalski", "Lindqvist", "Moreau", "Nguyen", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Weber"]
MAIL_DOMAINS = ["example.com", "example.org", "example.net"]
BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
TIMEZONES = ["UTC", "Europe/London", "Europe/Berlin", "America/New_York", "Asia/Singapore", "Asia/Tokyo"]
CRONS = ["0 9 * * 1-5", "*/15 * * * *", "0 */4 * * *", "30 13 * * 1-5", "0 0 * * *", "*/5 * * * *"]
IP_PREFIXES = ["81.2.69", "93.184.216", "185.199.108", "203.0.113", "198.51.100", "172.217.16"]
USER_AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
               "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
               "the0-cli/1.4.2 (linux; amd64)", "bot-core-mobile/2.3.0 (iOS 17.5)", "python-requests/2.32.3"]

STRATEGIES = ["rsi_reversion", "macd_trend", "bollinger_breakout", "grid", "dca", "ai_ensemble"]
STRATEGY_NAMES = {"rsi_reversion": "RSI Mean Reversion", "macd_trend": "MACD Trend Follower",
                  "bollinger_breakout": "Bollinger Breakout", "grid": "Grid Trader", "dca": "DCA Accumulator",
                  "ai_ensemble": "AI Signal Ensemble"}
STRATEGY_DESCRIPTIONS = {
    "rsi_reversion": "Buys oversold dips and sells overbought rallies using a 14-period RSI.",
    "macd_trend": "Follows trends on MACD/signal crossovers with an ATR trailing stop.",
    "bollinger_breakout": "Enters on closes outside the Bollinger bands with volume confirmation.",
    "grid": "Places a ladder of limit orders around the mid price and harvests the range.",
    "dca": "Buys a fixed amount on a schedule and adds more after drawdowns.",
    "ai_ensemble": "Combines LSTM and gradient-boosting predictions into long/flat signals.",
}
STRATEGY_PARAMS = {
    "rsi_reversion": {"rsi_period": 14, "oversold": 30, "overbought": 70},
    "macd_trend": {"fast": 12, "slow": 26, "signal": 9, "atr_multiplier": 2.5},
    "bollinger_breakout": {"period": 20, "std_dev": 2.0, "min_volume_ratio": 1.5},
    "grid": {"levels": 10, "spacing_pct": 0.5},
    "dca": {"every_hours": 24, "dip_pct": 5.0},
    "ai_ensemble": {"model": "lstm-gbm-v3", "threshold": 0.62},
}
AI_SETTINGS = {"ai.model": "gemini-2.5-flash", "ai.temperature": "0.2", "ai.max_output_tokens": "8192",
               "artifacts.bucket": "ai-artifacts", "chat.max_messages_per_session": "200",
               "chat.session_idle_days": "90"}
MIME = {".py": "text/x-python", ".yaml": "application/yaml", ".txt": "text/plain", ".md": "text/markdown",
        ".json": "application/json", ".zip": "application/zip"}


def mime_type(filename: str) -> str:
    return MIME.get(filename[filename.rfind("."):], "application/octet-stream")


def session_title(strategy: str, symbol: str) -> str:
    return f"{STRATEGY_NAMES[strategy]} bot for {symbol}"


def user_message(rng: random.Random, strategy: str, symbol: str, turn: int) -> str:
    if turn == 0:
        return rng.choice([
            f"I want a bot for {symbol} using a {STRATEGY_NAMES[strategy]} strategy. {STRATEGY_DESCRIPTIONS[strategy]}",
            f"Can you build me a bot that trades {symbol} with the {STRATEGY_NAMES[strategy]} approach?",
            f"Help me write a {STRATEGY_NAMES[strategy]} strategy for {symbol} on the 15m chart.",
        ])
    return rng.choice([
        "Add a stop loss at 3% and a take profit at 6%.", "Can you backtest it over the last 90 days?",
        "Make the position size 2% of the account balance.", "Why did it open so many trades on Tuesday?",
        "Please add a requirements file and a short README.", "Switch the interval to 1h and reduce fees.",
        f"How would this behave if {symbol[:-4]} drops 20% in a day?",
    ])


def assistant_message(rng: random.Random, strategy: str, symbol: str, new_files: list[str]) -> str:
    text = rng.choice([
        f"Here is a {STRATEGY_NAMES[strategy]} approach for {symbol}: entries come from "
        f"{', '.join(f'{k}={v}' for k, v in STRATEGY_PARAMS[strategy].items())}, exits from the stop and target.",
        "Done. Position sizing now uses the account balance and never exceeds the configured maximum.",
        "The backtest shows most losses came from choppy sessions; a volume filter removes about a third of them.",
        "In a 20% single-day drop the stop loss closes the position early; the grid of orders would be fully filled.",
    ])
    if new_files:
        text += " I created " + ", ".join(f"`{f}`" for f in new_files) + "."
    return text


ARTIFACT_ORDER = ["main.py", "bot-config.yaml", "requirements.txt", "README.md", "backtest_report.json"]


def artifacts_for_turn(rng: random.Random, turn: int, made: list[str]) -> list[str]:
    """Files the assistant creates in this turn: none at all in about a third of sessions."""
    if turn == 0 and rng.random() < 0.35:
        return []
    left = [f for f in ARTIFACT_ORDER if f not in made]
    return left[: rng.randint(0, 2)] if left and (turn == 0 or made) else []


def bot_schema(strategy: str) -> dict:
    props = {k: {"type": "number" if isinstance(v, float) else "integer" if isinstance(v, int) else "string",
                 "default": v} for k, v in STRATEGY_PARAMS[strategy].items()}
    return {"bot": {"type": "object", "properties": {"symbol": {"type": "string"}, **props}, "required": ["symbol"]}}


def _main_py(strategy: str, symbol: str) -> str:
    params = STRATEGY_PARAMS[strategy]
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return (f'"""{STRATEGY_NAMES[strategy]} for {symbol}."""\n'
            "from the0 import Bot, Signal\n\n\n"
            f"class Strategy(Bot):\n    symbol = {symbol!r}\n\n"
            f"    def setup(self, {args}):\n"
            + "".join(f"        self.{k} = {k}\n" for k in params)
            + "\n    def on_candle(self, candle, indicators):\n"
            "        signal = indicators.signal(self)\n"
            "        if signal is Signal.BUY and not self.position:\n"
            "            self.buy(risk=0.02, stop_loss_pct=3, take_profit_pct=6)\n"
            "        elif signal is Signal.SELL and self.position:\n"
            "            self.close()\n")


def bot_files(strategy: str, name: str, symbol: str, version: str) -> dict[str, bytes]:
    """The files of a custom bot submission (zipped into custom-bots, extracted into bot-code)."""
    cfg = (f"name: {name}\nversion: {version}\nruntime: python3.11\ntype: trading\n"
           "entrypoints:\n  bot: main.py\n  backtest: backtest.py\n"
           f"schema:\n  symbol: {symbol}\n" + "".join(f"  {k}: {v}\n" for k, v in STRATEGY_PARAMS[strategy].items()))
    return {
        "main.py": _main_py(strategy, symbol).encode(),
        "backtest.py": (f'"""Backtest entry point."""\nfrom main import Strategy\n\n\n'
                        f"def run(engine):\n    return engine.run(Strategy, symbol={symbol!r}, days=90)\n").encode(),
        "bot-config.yaml": cfg.encode(),
        "requirements.txt": b"the0-sdk==0.9.4\nnumpy==2.1.3\npandas==2.2.3\nta==0.11.0\n",
        "README.md": f"# {name}\n\n{STRATEGY_DESCRIPTIONS[strategy]}\n\nVersion {version}.\n".encode(),
    }


def artifact_body(filename: str, strategy: str, symbol: str) -> bytes:
    """The bytes of an AI-generated artifact."""
    if filename == "backtest_report.json":
        return json.dumps({"symbol": symbol, "strategy": strategy, "days": 90,
                           "params": STRATEGY_PARAMS[strategy]}, indent=2).encode()
    return bot_files(strategy, STRATEGY_NAMES[strategy], symbol, "0.1.0")[filename]
