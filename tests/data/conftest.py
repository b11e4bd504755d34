"""Fixtures for the migration tests: the session's local estate, migrated once."""
from __future__ import annotations

import subprocess
import sys

import pytest

from estate.environment import Environment
from estate.local import LocalEstate


def run_migrate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estate", "migrate", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def first_migrate(local_estate: LocalEstate, env: Environment) -> subprocess.CompletedProcess:
    """`estate migrate` on the fresh session estate, as a user runs it."""
    proc = run_migrate("--workdir", str(local_estate.layout.workdir))
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def migrated(first_migrate, env: Environment) -> Environment:
    return env
