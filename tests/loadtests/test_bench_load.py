"""`estate bench load`: Locust and the native tool run the same operation and the table gives their ratio."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import psutil

from estate.local import LocalEstate
from estate.local.placement import split
from estate.stores import adapter


def argv(local_estate: LocalEstate, *args: str) -> list[str]:
    return [sys.executable, "-m", "estate", "bench", "load", "--workdir", str(local_estate.layout.workdir), *args]


def bench_load(local_estate: LocalEstate, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv(local_estate, *args), capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "250"})


def masks(pid: int) -> set[frozenset[int]]:
    """The CPU affinities of every thread of ``pid`` and of its descendants."""
    out = set()
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for thread in proc.threads():
            try:
                out.add(frozenset(os.sched_getaffinity(thread.id)))
            except ProcessLookupError:
                pass
    return out


def rows(proc: subprocess.CompletedProcess, store: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("│").split("│")] for line in proc.stdout.splitlines() if line.startswith(f"│ {store}")]


def test_postgres_row_has_a_numeric_ratio_and_the_load_schema_is_gone(local_estate: LocalEstate, env) -> None:
    """Under the default split placement: PostgreSQL runs on the servers' CPUs while measured, and gets every
    CPU back after."""
    cpus, everything = split(), frozenset(os.sched_getaffinity(0))
    primary = next(p for p in local_estate.processes() if p.name == "postgres-primary").pid()
    run = subprocess.Popen(argv(local_estate, "--seconds", "2", "--store", "postgres", "--users", "2"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "250"})
    seen: set[frozenset[int]] = set()
    while True:
        try:
            stdout, stderr = run.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            seen |= masks(primary)
    proc = subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert cpus, "this test needs two CPUs"
    assert cpus.describe() in " ".join(proc.stdout.split())
    assert frozenset(cpus.servers) in seen, seen  # pinned while measured: backends, walsender, postmaster
    assert masks(primary) == {everything}
    found = rows(proc, "postgres")
    assert len(found) == 2, proc.stdout
    store, _op, users, locust, native, tool, ratio, goal = found[0]
    assert (store, users) == ("postgres", "2") and tool.startswith("pgbench")
    assert float(locust.replace(",", "")) > 0 and float(native.replace(",", "")) > 0
    assert re.fullmatch(r"\d+\.\d\d", ratio), ratio
    assert goal in ("met", "missed")  # the only concurrency is the saturation one
    *_, python, tool, ratio, goal = found[1]  # the same statements by psycopg without Locust
    assert tool == "psycopg loop, 2 threads (no Locust)" and goal == "Python client ceiling"
    assert float(python.replace(",", "")) > 0 and re.fullmatch(r"\d+\.\d\d", ratio), (python, ratio)
    assert "errors" not in found[1][1], found[1]
    password = env.store("postgres").credential("app").password.get_secret_value()
    assert password not in proc.stdout + proc.stderr
    with adapter(env, "postgres").connect("admin") as conn:  # what the bench made is cleaned up
        assert conn.execute("SELECT to_regnamespace('estate_load')").fetchone()[0] is None


def test_nats_rows_give_the_sync_and_the_async_ceiling_and_judge_against_sync(local_estate: LocalEstate) -> None:
    proc = bench_load(local_estate, "--seconds", "2", "--store", "nats", "--users", "2", "--placement", "shared")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "servers and load generators sharing every CPU" in " ".join(proc.stdout.split())
    (sync, sync_ratio, sync_goal), (asyn, async_ratio, async_goal) = [(r[5], r[6], r[7]) for r in rows(proc, "nats")]
    assert sync.startswith("nats bench js pub sync --clients 2") and asyn.startswith("nats bench js pub async --clients 2")
    assert sync_goal in ("met", "missed") and async_goal == "ceiling only"
    assert all(re.fullmatch(r"\d+\.\d\d", r) for r in (sync_ratio, async_ratio)), (sync_ratio, async_ratio)


def test_unknown_store_is_a_one_line_error(local_estate: LocalEstate) -> None:
    proc = bench_load(local_estate, "--store", "oracle")
    assert proc.returncode != 0
    assert "unknown store(s): oracle" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    proc = bench_load(local_estate, "--placement", "elsewhere")
    assert proc.returncode != 0
    assert "unknown placement 'elsewhere': split or shared" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
