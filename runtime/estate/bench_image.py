"""`estate bench image`: what the images cost to build on this machine — the Debian base bootstrapped
from packages (cold), each image built without cache, a cached rebuild — and their sizes."""
from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from estate.image import engine
from estate.image.base import LOCAL_BASE, import_base, rootfs_tar
from estate.image.build import build


def run_image_bench(cold_base: bool, out: Console) -> None:
    client = engine.connect()
    progress = lambda msg: None  # noqa: E731  (the table is the output)
    rows: list[tuple[str, float, str]] = []
    t0 = time.monotonic()
    tar = rootfs_tar(progress, rebuild=cold_base)
    rows.append(("base: debootstrap minbase + tar" if cold_base else "base: cached rootfs tar", time.monotonic() - t0,
                 f"{tar.stat().st_size / 2**20:.0f} MiB tar"))
    t0 = time.monotonic()
    import_base(client, tar, progress)
    size = client.images.get(LOCAL_BASE).attrs["Size"]
    rows.append(("base: docker import", time.monotonic() - t0, f"{size / 2**20:.0f} MiB"))
    for which in ("harness", "postgres"):
        cold = build(client, which, progress, no_cache=True)
        rows.append((f"{which}: build, no cache", cold.seconds, f"{cold.size / 2**20:.0f} MiB"))
        warm = build(client, which, progress)
        rows.append((f"{which}: rebuild, cached", warm.seconds, f"{warm.cached}/{warm.steps} steps cached"))
    table = Table("step", "seconds", "result", title="estate bench image")
    for step, seconds, result in rows:
        table.add_row(step, f"{seconds:.1f}", result)
    out.print(table)
