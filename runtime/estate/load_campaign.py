"""`estate load --profile`: one campaign of the platform's flows, judged, reconciled and reported.

The estate process (no gevent here) starts the bot-runner workers the custom-bot flow needs, runs the
Locust campaign in its own process (``loadtests.run_profile``; a master and N workers with
``--workers N``), optionally fires a failover drill mid-run, then waits for the workers to drain,
reconciles the stores with what the run acknowledged, judges the profile's gates, writes the plot and
cleans the run's data up. A missed gate, a gap or a drill that loses an acknowledged write fails the run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bson import ObjectId

from estate.environment import Environment
from estate.errors import EstateError
from estate.load_profile import Profile
from estate.load_reconcile import cleanup, reconcile, wait_drained
from estate.local.files import write_private

FAULT_AT = 0.3  # of the profile's duration: the drill starts after this share of it
FAULTS = ("postgres", "nats", "minio")


@dataclass
class Fault:
    store: str
    start: float = 0.0  # wall clock
    end: float = 0.0
    report: object = None
    error: str = ""


@dataclass
class CampaignResult:
    run_dir: Path
    run_id: str
    summary: dict
    misses: list[tuple[str, str]]
    gaps: list[str]
    fault: Fault | None = None
    worker_restarts: list[str] = field(default_factory=list)
    min_knee_users: int = 0

    @property
    def knee_too_low(self) -> bool:
        knee = (self.summary.get("shape") or {}).get("knee")
        return bool(self.min_knee_users) and (knee is None or knee["users"] < self.min_knee_users)

    @property
    def passed(self) -> bool:
        fault_ok = self.fault is None or (not self.fault.error and getattr(self.fault.report, "holds", False))
        return not self.misses and not self.gaps and fault_ok and not self.knee_too_low


class BotRunners:
    """`estate worker bot-runner` processes beside the campaign; one that dies is restarted and reported."""

    def __init__(self, count: int, env_name: str, workdir: Path, run_dir: Path):
        self.cmd = [sys.executable, "-m", "estate", "worker", "bot-runner", "--env", env_name, "--workdir", str(workdir)]
        self.run_dir, self.restarts = run_dir, []
        self.procs = [self._start(i) for i in range(count)]
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._supervise, daemon=True)
        self._watch.start()

    def _start(self, i: int) -> subprocess.Popen:
        log = open(self.run_dir / f"bot-runner-{i}.log", "a")
        return subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def _supervise(self) -> None:
        while not self._stop.wait(0.5):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stop.is_set():
                    lines = (self.run_dir / f"bot-runner-{i}.log").read_text().strip().splitlines() or ["?"]
                    self.restarts.append(f"bot-runner {i} exited {proc.returncode}: {lines[-1][:200]}")
                    self.procs[i] = self._start(i)

    def stop(self) -> None:
        self._stop.set()
        self._watch.join()
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _drill(fault: Fault, workdir: Path, environment: Environment, run_dir: Path, delay: float) -> None:
    from estate import failover
    from estate.local import LocalEstate

    deadline = time.monotonic() + 120
    while not (run_dir / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the users start once Locust (and its workers) are up
    time.sleep(delay)
    fault.start = time.time()
    try:
        fault.report = failover.run(LocalEstate(workdir), environment, [fault.store])[0]
    except EstateError as exc:
        fault.error = str(exc)
    fault.end = time.time()


def run_campaign(environment: Environment, env_name: str, workdir: Path, profile: Profile, run_dir: Path,
                 workers: int = 0, during: str | None = None, keep: bool = False,
                 progress: Callable[[str], None] = lambda _: None) -> CampaignResult:
    run_id = str(ObjectId())
    run_dir.mkdir(parents=True, exist_ok=True)
    profile_file = profile.dump(run_dir / "profile.yaml")
    fault = Fault(during) if during else None
    bots = BotRunners(profile.bot_workers if profile.weights.get("custom_bot") else 0, env_name, workdir, run_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="estate-load-") as tmp:
            env_file = Path(tmp) / "environment.json"
            write_private(env_file, environment.dump_json())
            cmd = [sys.executable, "-m", "loadtests.run_profile", "--profile", str(profile_file), "--run-dir", str(run_dir),
                   "--run-id", run_id, "--workers", str(workers)]
            progress(f"campaign {profile.name}: {profile.users} users, up to {profile.duration_s:g}s"
                     f"{f', {workers} Locust workers' if workers else ''}; run {run_id} in {run_dir}")
            drill = None
            with open(run_dir / "locust.log", "w") as log:
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "ESTATE_ENVIRONMENT_FILE": str(env_file)})
                if fault:
                    drill = threading.Thread(target=_drill, args=(fault, workdir, environment, run_dir, profile.duration_s * FAULT_AT),
                                             daemon=True)
                    drill.start()
                try:
                    rc = proc.wait(timeout=profile.duration_s + 400)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = "timeout"
            if drill:
                drill.join(timeout=300)
        if rc != 0 or not (run_dir / "summary.json").exists():
            tail = (run_dir / "locust.log").read_text().strip().splitlines() or [f"exit {rc}"]
            raise EstateError(f"load campaign failed ({rc}): {tail[-1][:300]} (log: {run_dir / 'locust.log'})")
        summary = json.loads((run_dir / "summary.json").read_text())
        progress("reconciling the stores with what the run acknowledged")
        drained = wait_drained(environment) if bots.procs else True
    finally:
        bots.stop()
    gaps = ([] if drained else ["bot-runner: events still pending or unacknowledged 60s after the campaign"])
    gaps += reconcile(environment, run_id, run_dir)
    misses = [] if profile.steps else profile.judge(summary["operations"])
    result = CampaignResult(run_dir, run_id, summary, misses, gaps, fault, bots.restarts,
                            profile.steps.min_knee_users if profile.steps else 0)
    if not keep:
        cleanup(environment, run_id)
    return result
