"""`estate bench …`: speed measured against the native tools, never in tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from estate.errors import EstateError

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks, each against a native baseline where one exists.")
out = Console(soft_wrap=True)

BENCH_BASE_PORT = 29000


def _estate(*args: str, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "estate", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise EstateError(f"estate {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return elapsed


@bench_app.command("up")
def bench_up(
    cold: Annotated[bool, typer.Option("--cold", help="also rebuild every Go server from an empty module and build cache (minutes)")] = False,
    base_port: Annotated[int, typer.Option("--base-port")] = BENCH_BASE_PORT,
) -> None:
    """Time `estate up`: cold (nothing built), fresh (binaries cached, no data) and warm (data present)."""
    rows: list[tuple[str, float, str]] = []
    root = Path(tempfile.mkdtemp(prefix="estate-bench-", dir="/tmp"))
    root.chmod(0o755)
    try:
        if cold:
            caches = root / "caches"
            env = {"ESTATE_CACHE_DIR": str(caches / "estate"), "GOCACHE": str(caches / "go-build"),
                   "GOMODCACHE": str(caches / "go-mod")}
            out.print("cold: building MinIO, FerretDB and natscli from scratch…")
            t = _estate("bootstrap", env=env)
            t += _estate("up", "--workdir", str(root / "cold"), "--base-port", str(base_port), env=env)
            _estate("destroy", "--yes", "--workdir", str(root / "cold"), env=env)
            rows.append(("cold: build every binary, then up", t, "go module + build caches empty"))
            shutil.rmtree(caches, ignore_errors=True)
        workdir = str(root / "estate")
        rows.append(("fresh: binaries cached, new work dir", _estate("up", "--workdir", workdir, "--base-port", str(base_port)),
                     "initdb, base backup, CA, users"))
        _estate("down", "--workdir", workdir)
        warm = _estate("up", "--workdir", workdir)
        rows.append(("warm: binaries cached, data present", warm, "goal < 20 s"))
        _estate("destroy", "--yes", "--workdir", workdir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = Table(title="estate up")
    for col in ("scenario", "seconds", "note"):
        table.add_column(col)
    for name, secs, note in rows:
        table.add_row(name, f"{secs:.1f}", note)
    out.print(table)
    if warm >= 20:
        out.print(f"[red]warm start took {warm:.1f}s, over the 20 s goal[/red]")
