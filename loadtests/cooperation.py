"""Proof that the load users' clients yield to each other under gevent.

    python -m loadtests.cooperation   (with ESTATE_ENVIRONMENT_FILE set)

N greenlets each make one call that waits server-side (PostgreSQL ``pg_sleep``) or in asyncio (the
NATS bridge); if the client blocked the gevent hub the calls would run one after another. Prints
the elapsed time of N overlapping calls next to the time of one, as JSON.
"""
from __future__ import annotations

import loadtests.users as users  # noqa: I001  first: gevent patches select before psycopg

import asyncio
import json
import time

import gevent
import psycopg

from estate.environment import Role

N, PAUSE = 4, 0.5


def _timed(fn) -> float:
    t0 = time.perf_counter()
    gevent.joinall([gevent.spawn(fn) for _ in range(N)], raise_error=True)
    return time.perf_counter() - t0


def postgres_sleep() -> None:
    with psycopg.connect(users.environment().postgres_url(Role.app)) as conn:
        conn.execute("SELECT pg_sleep(%s)", (PAUSE,))


def nats_bridge_sleep() -> None:
    async def pause(client) -> None:
        await client[1].flush()
        await asyncio.sleep(PAUSE)

    users.nats_bridge().call(pause)


def main() -> None:
    result = {"n": N, "pause": PAUSE,
              "postgres": _timed(postgres_sleep), "nats_bridge": _timed(nats_bridge_sleep)}
    users._close_bridge()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
