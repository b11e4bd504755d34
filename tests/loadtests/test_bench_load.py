"""`estate bench load`: Locust and the native tool run the same operation and the table gives their ratio."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from estate.local import LocalEstate
from estate.stores import adapter


def bench_load(local_estate: LocalEstate, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estate", "bench", "load", "--workdir", str(local_estate.layout.workdir), *args],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "250"})


def test_postgres_row_has_a_numeric_ratio_and_the_load_schema_is_gone(local_estate: LocalEstate, env) -> None:
    proc = bench_load(local_estate, "--seconds", "2", "--store", "postgres", "--users", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("│ postgres")]
    assert len(rows) == 1, proc.stdout
    cells = [c.strip() for c in rows[0].strip("│").split("│")]
    store, _op, users, locust, native, tool, ratio, goal = cells
    assert (store, users) == ("postgres", "2") and tool.startswith("pgbench")
    assert float(locust.replace(",", "")) > 0 and float(native.replace(",", "")) > 0
    assert re.fullmatch(r"\d+\.\d\d", ratio), ratio
    assert goal in ("met", "missed")  # the only concurrency is the saturation one
    password = env.store("postgres").credential("app").password.get_secret_value()
    assert password not in proc.stdout + proc.stderr
    with adapter(env, "postgres").connect("admin") as conn:  # what the bench made is cleaned up
        assert conn.execute("SELECT to_regnamespace('estate_load')").fetchone()[0] is None


def test_unknown_store_is_a_one_line_error(local_estate: LocalEstate) -> None:
    proc = bench_load(local_estate, "--store", "oracle")
    assert proc.returncode != 0
    assert "unknown store(s): oracle" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
