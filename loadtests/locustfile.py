"""`locust -f loadtests/locustfile.py [--estate-profile baseline]` — the platform's flows under a profile.

The users are the platform's flows (chat, custom bot, backtests, market data and trades; see
``loadtests/flows``) weighted by the profile, and the profile's shape drives the users (constant, or a
step ramp stopping at the knee). The same file serves a single process, a master (``--master``) and
its workers (``--worker --master-host …``), as the Pulumi stacks run it and as ``estate load --workers N``
runs it on one machine. Prepare the estate first: ``estate migrate`` and ``estate seed``; run the
bot-runner worker (``estate worker bot-runner``) for the custom-bot flow. The per-store users of
``estate load --store`` are in ``loadtests/users.py`` (``locust -f loadtests/users.py``).
"""
from loadtests.flows import BacktestUser, ChatUser, CustomBotUser, MarketUser  # noqa: F401
from loadtests.shape import ProfileShape  # noqa: F401
