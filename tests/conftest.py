"""Shared fixtures: one real local estate per test session, on its own ports and work dir."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from estate.environment import Environment
from estate.local import LocalEstate

from estate.local.process import port_free


def free_base_port() -> int:
    """First base port from ESTATE_TEST_BASE_PORT (default 26000) whose 100 ports are all free,
    so several test sessions on one machine do not collide."""
    start = int(os.environ.get("ESTATE_TEST_BASE_PORT", "26000"))
    for base in range(start, start + 3000, 100):
        if all(port_free(p) for p in range(base, base + 70)):
            return base
    raise RuntimeError("no free block of 100 ports for the test estate")


@pytest.fixture(scope="session")
def local_estate() -> LocalEstate:
    """A running local estate (started once, destroyed at the end of the session)."""
    # Under /tmp so the postgres system user can traverse it even when the checkout is in a 0700 dir.
    workdir = Path(tempfile.mkdtemp(prefix="estate-test-", dir="/tmp"))
    workdir.chmod(0o755)
    estate = LocalEstate(workdir, free_base_port())
    try:
        estate.up(lambda msg: print(f"[estate up] {msg}"))
        yield estate
    finally:
        estate.destroy()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def env(local_estate: LocalEstate) -> Environment:
    """The Environment model of the running local estate, as every harness command sees it."""
    return Environment.load(local_estate.layout.environment_file)
