"""Seeding an environment: generate, then write store by store with a progress bar and timings.

Objects go first, so every document or row that names an object is written after it exists; the
events go last, for the documents this run created.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from estate.environment import Environment
from estate.seed import writers
from estate.seed.generate import Dataset, generate


@dataclass
class StoreRun:
    items: int
    seconds: float
    result: writers.Written

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


@dataclass
class SeedReport:
    dataset: Dataset
    generate_seconds: float
    stores: dict[str, StoreRun] = field(default_factory=dict)


def seed_estate(env: Environment, key: bytes, seed: int, scale: int, as_of: datetime | None = None,
                console: Console | None = None, dataset: Dataset | None = None) -> SeedReport:
    """Seed every store of ``env``, API-key secrets sealed with ``key``; shows progress on ``console``
    (stderr by default)."""
    t0 = time.perf_counter()
    ds = dataset or generate(seed, scale, as_of)
    ds.seal_api_keys(key)
    report = SeedReport(ds, time.perf_counter() - t0)
    counts = ds.counts()
    columns = (TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console or Console(stderr=True), transient=False) as bar:
        tasks = {kind: bar.add_task(kind, total=counts[kind]) for kind in ("minio", "postgres", "mongo", "nats")}

        def timed(kind: str, fn, *args):
            def advance(n: int) -> None:
                bar.advance(tasks[kind], n)
            start = time.perf_counter()
            out = fn(env, *args, advance)
            written = out[0] if isinstance(out, tuple) else out
            report.stores[kind] = StoreRun(counts[kind] if kind != "nats" else len(args[0]),
                                           time.perf_counter() - start, written)
            return out

        timed("minio", writers.write_minio, ds.objects)
        timed("postgres", writers.write_postgres, ds)
        _, inserted = timed("mongo", writers.write_mongo, ds)
        events = [ev for ev in ds.events if ev.doc["_id"] in inserted]
        bar.update(tasks["nats"], total=len(events))
        timed("nats", writers.write_nats, events)
    return report
