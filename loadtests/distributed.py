"""A Locust runner on this machine: one process, or a master and N worker processes.

The workers run the command line the Pulumi stacks give their worker pods (``locust -f LOCUSTFILE
--worker --master-host …``), so `estate load --profile … --workers N` (``loadtests.run_profile``) and the
per-store campaigns of `estate load` / `estate bench load --workers N` (``loadtests.campaign``) spread
their users over processes — over cores — the same way. Library mode: the caller builds the Locust
``Environment`` and drives the runner.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import gevent
import locust
from locust import argument_parser
from locust.env import Environment
from locust.runners import Runner

from estate.local.process import free_port

WORKERS_READY_TIMEOUT = 60


def options(args: list[str]):
    """Locust's parsed options for ``args`` (with the custom arguments locustfiles add): a master sends its
    workers these."""
    parser = argument_parser.get_empty_argument_parser()
    argument_parser.setup_parser_arguments(parser)
    locust.events.init_command_line_parser.fire(parser=parser)
    return parser.parse_args(args)


def start(env: Environment, workers: int, locustfile: Path, log_dir: Path) -> tuple[Runner, list[subprocess.Popen]]:
    """A local runner (``workers=0``), or a master with ``workers`` connected worker processes (logs in
    ``log_dir/worker-I.log``); SystemExit when they do not all connect."""
    if not workers:
        return env.create_local_runner(), []
    port = free_port()
    runner = env.create_master_runner("127.0.0.1", port)
    cmd = [str(Path(sys.executable).with_name("locust")), "-f", str(locustfile), "--worker",
           "--master-host", "127.0.0.1", "--master-port", str(port)]
    procs = []
    for i in range(workers):
        with open(log_dir / f"worker-{i}.log", "w") as log:  # the worker keeps its own copy of the file
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + WORKERS_READY_TIMEOUT
    while len(runner.clients.ready) < workers:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            stop(procs)
            tail = (log_dir / "worker-0.log").read_text().strip().splitlines() or ["no output"]
            raise SystemExit(f"{len(runner.clients.ready)} of {workers} Locust workers connected: {tail[-1][:300]}")
        gevent.sleep(0.2)
    return runner, procs


def stop(procs: list[subprocess.Popen]) -> None:
    """Wait for the workers the master told to quit; kill any that hang."""
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
