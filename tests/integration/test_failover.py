"""`estate failover`: faults injected into real servers while a client writes; no acknowledged write
may be lost, and the estate must end as it began. These drills kill servers, so they get an estate
of their own rather than the session's."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from estate.environment import Environment, Role
from estate.local import LocalEstate
from estate.stores import adapters

from tests.conftest import free_base_port


@pytest.fixture(scope="module")
def drilled() -> tuple[LocalEstate, subprocess.CompletedProcess]:
    workdir = Path(tempfile.mkdtemp(prefix="estate-failover-", dir="/tmp"))
    workdir.chmod(0o755)
    estate = LocalEstate(workdir, free_base_port())
    try:
        estate.up()
        proc = subprocess.run([sys.executable, "-m", "estate", "failover", "--workdir", str(workdir)],
                              capture_output=True, text=True, timeout=600)
        yield estate, proc
    finally:
        estate.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


def line(proc: subprocess.CompletedProcess, store: str) -> str:
    found = [ln for ln in proc.stdout.splitlines() if ln.split()[1:2] == [store]]
    assert found, f"no report for {store}: {proc.stdout}{proc.stderr}"
    return found[0]


def test_no_acknowledged_write_is_lost(drilled) -> None:
    _, proc = drilled
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for store in ("postgres", "nats", "minio"):
        text = line(proc, store)
        assert text.startswith("holds") and " 0 lost" in text, text
        assert int(text.split(": ", 1)[1].split()[0]) > 100, text  # the client really wrote through the fault


def test_postgres_fails_over_and_switches_back_to_a_synchronous_pair(drilled) -> None:
    estate, proc = drilled
    assert "switched back, standby sync" in line(proc, "postgres")
    env = Environment.load(estate.layout.environment_file)
    pg = next(a for a in adapters(env) if a.kind == "postgres")
    primary, standby = pg.status()
    assert (primary.role, standby.role) == ("primary", "standby")
    assert "standby1: sync" in primary.detail
    with pg.connect(Role.admin) as conn:  # the drill's scratch database is gone
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'estate_probe%'").fetchone()[0] == 0


def test_the_estate_is_whole_after_the_drills(drilled) -> None:
    estate, _ = drilled
    env = Environment.load(estate.layout.environment_file)
    for a in adapters(env):
        assert all(s.up for s in a.status()), a.kind
        a.roundtrip(Role.app)
    assert estate.minio.wait_healed(timeout=5)


def test_mongo_without_a_replica_set_is_reported_not_passed(drilled) -> None:
    estate, proc = drilled
    env = Environment.load(estate.layout.environment_file)
    text = line(proc, "mongo")
    assert text.startswith("unsupported")
    if env.store("mongo").capabilities.get("replica_set"):
        assert "not written yet" in text
    else:
        assert "no replica set" in text


def test_unknown_store_is_a_one_line_error(drilled) -> None:
    estate, _ = drilled
    proc = subprocess.run([sys.executable, "-m", "estate", "failover", "--workdir", str(estate.layout.workdir),
                           "--store", "redis"], capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "no such store: redis" in proc.stderr
