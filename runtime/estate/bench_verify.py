"""`estate bench verify`: the whole `estate verify` timed on a seeded estate (a temporary one, migrated
and seeded at scale 1, or ``--workdir``'s as it is), its checks one after another, then each store's
checks in a lane of their own with the lanes side by side.
The goal is under 60 s on the 2-core machine. A fresh backup is uploaded first, so the checks of the
stored backup (freshness, manifest, restore drill) have one and do their full work."""
from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from checks import Outcome, run_checks
from estate.backup import backup, upload
from estate.bench_seed import bench_environment
from estate.environment import Environment
from estate.seed import seed_estate

GOAL_SECONDS = 60.0


def run_verify_bench(env_name: str, workdir: Path | None, base_port: int, out: Console) -> None:
    with bench_environment(env_name, workdir, base_port, out) as (env, key):
        if workdir is None:
            out.print("seeding it at scale 1…")
            seed_estate(env, key, 1, 1, console=Console(file=io.StringIO()))
        _bench(env, out)


def _bench(env: Environment, out: Console) -> None:
    with tempfile.TemporaryDirectory(prefix="estate-bench-verify-") as tmp:
        t0 = time.perf_counter()
        dest = Path(tmp) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        backup(env, dest)
        upload(env, dest, env.backups.bucket if env.backups else "estate-backups")
        out.print(f"backup uploaded in {time.perf_counter() - t0:.1f}s; timing verify…")
    table = Table(title=f"estate verify on {env.name} (goal < {GOAL_SECONDS:.0f} s)")
    for col in ("mode", "checks", "seconds", "Σ check s", "hold", "warn", "fail", "unsup."):
        table.add_column(col, justify="left" if col == "mode" else "right")
    walls = {}
    for mode, concurrent in (("sequential", False), ("store lanes", True)):
        t0 = time.perf_counter()
        results = run_checks(env, concurrent=concurrent)
        walls[mode] = time.perf_counter() - t0
        counts = {o: sum(r.outcome == o for r in results) for o in Outcome}
        table.add_row(mode, str(len(results)), f"{walls[mode]:.1f}", f"{sum(r.seconds for r in results):.1f}",
                      *(str(counts[o]) for o in Outcome))
        slowest = sorted(results, key=lambda r: r.seconds, reverse=True)[:3]
        out.print(f"{mode}: slowest " + "; ".join(f"{r.store} {r.check} {r.seconds:.1f}s" for r in slowest), highlight=False)
    out.print(table)
    sequential, concurrent = walls.values()
    verdict = "[green]meets[/green]" if concurrent < GOAL_SECONDS else "[red]misses[/red]"
    out.print(f"verify: {concurrent:.1f}s concurrent vs {sequential:.1f}s sequential ({sequential / concurrent:.2f}x); "
              f"{verdict} the {GOAL_SECONDS:.0f} s goal")
