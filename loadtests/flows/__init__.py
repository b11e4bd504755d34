"""The platform's flows as Locust users, one module per flow family (see base.py for what they share)."""
from __future__ import annotations

import loadtests.flows.base  # noqa: F401,I001  first: gevent patches before the store clients load

from loadtests.flows.backtests import BacktestUser
from loadtests.flows.chat import ChatUser
from loadtests.flows.custom_bot import CustomBotUser
from loadtests.flows.market import MarketUser

FLOW_USERS = {"chat": ChatUser, "custom_bot": CustomBotUser, "backtests": BacktestUser, "market": MarketUser}
