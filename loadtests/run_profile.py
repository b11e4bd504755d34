"""Run one profile campaign of the platform's flows in library mode; reports go to the run directory.

    python -m loadtests.run_profile --profile smoke.yaml --run-dir DIR --run-id OID [--workers N]

Without workers one gevent process runs every user. With ``--workers N`` this process is the Locust
master and starts N worker processes with the command line the Pulumi stacks give their worker pods
(``locust -f loadtests/locustfile.py --worker --master-host …``), on this machine. Writes Locust's CSV
(``locust_stats.csv``, ``locust_stats_history.csv`` with every operation, failures, exceptions) and HTML
report, and ``summary.json``; workers add their ledgers and timelines (``ledger-PID.jsonl``,
``timeline-PID.json``). `estate load --profile` starts it, then judges, reconciles and plots.
"""
from __future__ import annotations

import loadtests.flows as flows  # noqa: I001  first: patches gevent before anything else

import argparse
import json
import os
import time
from pathlib import Path

import gevent
import locust
from locust.env import Environment
from locust.html import get_html_report
from locust.runners import STATE_STOPPED
from locust.stats import PERCENTILES_TO_REPORT, StatsCSVFileWriter, stats_history

from estate.load_profile import load_profile
from loadtests import distributed
from loadtests.shape import ProfileShape

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STOP_TIMEOUT = 40


def run(profile_path: Path, run_dir: Path, run_id: str, workers: int) -> dict:
    profile = load_profile(profile_path)
    opts = distributed.options(["--headless", "-u", str(profile.users), "-r", str(profile.spawn_rate),
                    "--estate-profile", str(profile_path), "--estate-run-id", run_id, "--estate-run-dir", str(run_dir)])
    for flow, cls in flows.FLOW_USERS.items():
        cls.weight = profile.weights.get(flow, 0)
    classes = [c for c in flows.FLOW_USERS.values() if c.weight > 0]
    shape = ProfileShape(profile)
    # stop_timeout: a stopping user finishes its task (a half-done flow would be a gap of our own making)
    env = Environment(user_classes=classes, shape_class=shape, events=locust.events, parsed_options=opts,
                      stop_timeout=STOP_TIMEOUT)
    runner, procs = distributed.start(env, workers, LOCUSTFILE, run_dir)
    csv = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(run_dir / "locust"), full_history=True)
    writers = [gevent.spawn(csv.stats_writer), gevent.spawn(stats_history, runner)]
    flows.base.seeded()  # look the seeded ids up once, before the clock starts
    started = time.time()
    (run_dir / "started").write_text(str(started))  # a fault fired mid-run counts from here
    runner.start_shape()
    hard_stop = time.monotonic() + profile.duration_s + 120
    # A headless master's shape quits the runner, which kills the shape greenlet before it can clear
    # shape_greenlet and never reaches STATE_STOPPED: a dead shape greenlet ends the run too.
    while (runner.state != STATE_STOPPED and runner.shape_greenlet is not None and not runner.shape_greenlet.dead
           and time.monotonic() < hard_stop):
        gevent.sleep(0.5)
    runner.quit()
    ended = time.time()
    gevent.sleep(1.2)  # one more CSV write with the final figures
    gevent.killall(writers)
    csv.close_files()
    distributed.stop(procs)
    (run_dir / "report.html").write_text(get_html_report(env, show_download_link=False))
    seconds = max(ended - started, 1e-9)
    ops = {name: {"type": method, "requests": e.num_requests, "failures": e.num_failures, "rps": e.num_requests / seconds,
                  **{f"p{int(q * 100)}_ms": e.get_response_time_percentile(q) for q in (0.5, 0.95, 0.99)}}
           for (name, method), e in env.stats.entries.items() if e.num_requests}
    summary = {"profile": profile.name, "run_id": run_id, "workers": workers, "started": started, "ended": ended,
               "seconds": seconds, "operations": ops, "shape": shape.outcome,
               "errors": [f"{e.method} {e.name}: {e.error}" for e in env.stats.errors.values()][:20],
               "exceptions": [x["msg"] for x in runner.exceptions.values()][:5]}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    return summary


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--profile", type=Path, required=True)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--workers", type=int, default=0)
    args = p.parse_args(argv)
    run(args.profile, args.run_dir, args.run_id, args.workers)
    os._exit(0)  # pymongo/nats helper threads must not hold the process open


if __name__ == "__main__":
    main()
