"""Run one headless Locust campaign of a per-store user in library mode and print its stats as JSON.

    python -m loadtests.campaign --store postgres --users 8 --seconds 10 [--workers N]

Runs in its own process (gevent-patched): alone, or as the master of N worker processes
(``loadtests.distributed``, as `estate load --profile … --workers N`). `estate load` and `estate bench
load` start it and judge the numbers. Throughput is counted over whole seconds of the measured window
from Locust's per-second request counts, which workers report with their own timestamps, so it is
exact on a master too; latencies are those of every request after the warm-up.
"""
from __future__ import annotations

import loadtests.users as users  # noqa: I001  first: patches gevent before anything else

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import gevent
import locust
from locust.env import Environment
from locust.runners import WORKER_REPORT_INTERVAL

from loadtests import distributed


def run(store: str, n_users: int, seconds: float, warmup: float, workers: int = 0) -> dict:
    env = Environment(user_classes=[users.USERS[store]], events=locust.events,
                      parsed_options=distributed.options(["--headless", "-u", str(n_users)]))
    with tempfile.TemporaryDirectory(prefix="estate-campaign-") as logs:
        runner, procs = distributed.start(env, workers, Path(users.__file__), Path(logs))
        runner.start(n_users, spawn_rate=n_users)
        gevent.sleep(warmup)
        env.stats.reset_all()  # latencies of the steady state, not of connection set-up
        first, window = int(time.time()) + 1, max(1, round(seconds))
        gevent.sleep(first + window - time.time())
        if workers:
            gevent.sleep(WORKER_REPORT_INTERVAL + 1)  # every worker's report of the window's last second
        runner.quit()
        distributed.stop(procs)
    out = {}
    for (name, _method), entry in env.stats.entries.items():
        if not entry.num_requests:
            continue
        out[name] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": sum(entry.num_reqs_per_sec.get(t, 0) for t in range(first, first + window)) / window,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
    errors = [f"{e.method} {e.name}: {e.error}" for e in env.stats.errors.values()][:5]
    return {"store": store, "users": n_users, "workers": workers, "seconds": window, "operations": out, "errors": errors,
            "total_rps": sum(op["rps"] for op in out.values())}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--store", required=True, choices=sorted(users.USERS))
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--workers", type=int, default=0)
    args = p.parse_args(argv)
    result = run(args.store, args.users, args.seconds, args.warmup, args.workers)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
