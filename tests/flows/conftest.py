"""Fixtures for the seed and event-flow tests: the session's local estate, migrated."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from estate.environment import Environment
from estate.local import LocalEstate

ESTATE = [sys.executable, "-m", "estate"]


def estate_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*ESTATE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def cli():
    """Run `estate …` as a user would: a subprocess, output captured."""
    return estate_cli


@pytest.fixture(scope="session")
def migrated(local_estate: LocalEstate, env: Environment) -> Environment:
    """The session estate after `estate migrate` (every store, run in-process)."""
    from estate.migrations import migrate

    migrate(env)
    return env


@pytest.fixture(scope="session")
def workdir(local_estate: LocalEstate) -> Path:
    return local_estate.layout.workdir
