"""CPU placement for benchmarks on one machine: the servers on some CPUs, the load generators on the others.

Measured on the same CPUs, a load generator competes with the server it loads: a Python client that
spends a few times pgbench's CPU per operation takes that CPU from PostgreSQL, and the ratio then tells
how the two share cores, not whether the generator can saturate the server. Deployed, they do not
share: the stacks run Locust's master and workers on pods of their own. ``split`` puts the local
estate's server processes (every thread, and the children they fork later, such as PostgreSQL's
backends) on the first half of this process's CPUs and this process — and so every generator it
starts: Locust, pgbench, `nats bench`, client threads — on the rest.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from estate.errors import EstateError


@dataclass(frozen=True)
class Placement:
    servers: tuple[int, ...]
    generators: tuple[int, ...]

    def describe(self) -> str:
        return f"servers on CPU {_cpus(self.servers)}, load generators on CPU {_cpus(self.generators)}"


def split(cpus: Iterable[int] | None = None) -> Placement | None:
    """The first half of ``cpus`` (default: the CPUs this process may use) for the servers, the rest for
    the generators; None with fewer than two CPUs."""
    mine = sorted(os.sched_getaffinity(0) if cpus is None else cpus)
    if len(mine) < 2:
        return None
    half = (len(mine) + 1) // 2
    return Placement(tuple(mine[:half]), tuple(mine[half:]))


@contextmanager
def placed(server_pids: Iterable[int], placement: Placement) -> Iterator[None]:
    """Pin the server processes (their threads and descendants) to ``placement.servers`` and this thread
    (what it starts inherits it) to ``placement.generators``; on exit every one of them gets back the
    CPUs this thread had."""
    pids, everything = list(server_pids), os.sched_getaffinity(0)
    main = threading.current_thread() is threading.main_thread()
    if main:  # a SIGTERM (a CI timeout, `kill`) ends the bench through the finally below, not around it
        before = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        pin_tree(pids, placement.servers)
        os.sched_setaffinity(0, placement.generators)
        yield
    finally:
        os.sched_setaffinity(0, everything)
        pin_tree(pids, everything)
        if main:
            signal.signal(signal.SIGTERM, before)


def _exit_on_sigterm(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def pin_tree(pids: Iterable[int], cpus: Iterable[int]) -> None:
    """Set the CPU affinity of every thread of each process and of its descendants. Twice over: a thread
    started from one not yet pinned during the first pass is caught by the second."""
    cpus, pids = set(cpus), list(pids)
    for _ in range(2):
        for proc in _trees(pids):
            for thread in _threads(proc):
                try:
                    os.sched_setaffinity(thread, cpus)
                except ProcessLookupError:
                    pass  # the thread ended meanwhile
                except PermissionError as exc:
                    raise EstateError(f"cannot set the CPU affinity of pid {proc.pid}: {exc.strerror}") from None


def _trees(pids: list[int]) -> list[psutil.Process]:
    procs = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs += [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


def _threads(proc: psutil.Process) -> list[int]:
    try:
        return [t.id for t in proc.threads()]
    except psutil.NoSuchProcess:
        return []
    except psutil.AccessDenied:
        raise EstateError(f"cannot read the threads of pid {proc.pid}: permission denied") from None


def _cpus(cpus: tuple[int, ...]) -> str:
    return ",".join(map(str, cpus))
