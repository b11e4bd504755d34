"""Run one headless Locust campaign in library mode and print its stats as JSON.

    python -m loadtests.campaign --store postgres --users 8 --seconds 10

Runs in its own process (gevent-patched); `estate load` starts it and judges the numbers.
"""
from __future__ import annotations

import loadtests.users as users  # noqa: I001  first: patches gevent before anything else

import argparse
import json
import sys
from types import SimpleNamespace

import gevent
from locust.env import Environment


def run(store: str, n_users: int, seconds: float, warmup: float) -> dict:
    env = Environment(user_classes=[users.USERS[store]], parsed_options=SimpleNamespace(num_users=n_users))
    runner = env.create_local_runner()
    runner.start(n_users, spawn_rate=n_users)
    gevent.sleep(warmup)
    env.stats.reset_all()  # measure the steady state, not connection set-up
    gevent.sleep(seconds)
    runner.quit()
    runner.greenlet.join()
    out = {}
    for (name, _method), entry in env.stats.entries.items():
        if not entry.num_requests:
            continue
        out[name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.num_requests / seconds,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
    errors = [f"{e.method} {e.name}: {e.error}" for e in env.stats.errors.values()][:5]
    return {"store": store, "users": n_users, "seconds": seconds, "operations": out, "errors": errors,
            "total_rps": sum(op["rps"] for op in out.values())}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--store", required=True, choices=sorted(users.USERS))
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--warmup", type=float, default=1)
    args = p.parse_args(argv)
    result = run(args.store, args.users, args.seconds, args.warmup)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
