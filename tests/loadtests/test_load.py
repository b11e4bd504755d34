"""Locust campaigns: clients cooperate under gevent, campaigns run and report, goals are validated."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from estate.errors import EstateError
from estate.load import Goals
from estate.local import LocalEstate
from estate.stores import adapter


def test_clients_yield_to_each_other_under_gevent(local_estate: LocalEstate) -> None:
    proc = subprocess.run([sys.executable, "-m", "loadtests.cooperation"], capture_output=True, text=True,
                          env={**os.environ, "ESTATE_ENVIRONMENT_FILE": str(local_estate.layout.environment_file)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    serial = r["n"] * r["pause"]
    # Four 0.5 s waits take ~0.5 s when they overlap and 2 s when the hub is blocked.
    assert r["postgres"] < serial * 0.6, r
    assert r["nats_bridge"] < serial * 0.6, r


def test_campaign_reports_every_store_and_cleans_up(local_estate: LocalEstate, tmp_path: Path, env) -> None:
    goals = tmp_path / "goals.yaml"
    lenient = {"min_rps": 1, "max_p95_ms": 60000}
    goals.write_text(json.dumps({k: lenient for k in ("postgres", "mongo", "nats", "minio")} | {"min_scaling": 0}))
    proc = subprocess.run(
        [sys.executable, "-m", "estate", "load", "--workdir", str(local_estate.layout.workdir), "--users", "2",
         "--seconds", "1.5", "--goals", str(goals)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for kind in ("postgres", "mongo", "nats", "minio"):
        assert f"{kind}: 1 user" in proc.stdout and "meets goals" in proc.stdout
    assert "insert (sync commit)" in proc.stdout and "JetStream publish (acked)" in proc.stdout
    with adapter(env, "postgres").connect("admin") as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'estate_load'").fetchone()[0] == 0
    assert not adapter(env, "minio").client().bucket_exists("estate-load")


def test_impossible_goals_fail_the_run(local_estate: LocalEstate, tmp_path: Path) -> None:
    goals = tmp_path / "goals.yaml"
    goals.write_text("postgres: {min_rps: 100000000, max_p95_ms: 0.001}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "estate", "load", "--workdir", str(local_estate.layout.workdir), "--store", "postgres",
         "--users", "2", "--seconds", "1", "--goals", str(goals)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "misses" in proc.stdout and "goal" in proc.stdout


def test_bad_goals_file_names_the_key(tmp_path: Path) -> None:
    goals = tmp_path / "goals.yaml"
    goals.write_text("postgres: {min_rps: fast}\n")
    with pytest.raises(EstateError, match="postgres.min_rps"):
        Goals.load(goals)
    goals.write_text("cassandra: {min_rps: 1, max_p95_ms: 1}\n")
    with pytest.raises(EstateError, match="cassandra"):
        Goals.load(goals)
