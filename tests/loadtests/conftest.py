"""Fixtures for the load campaigns: the session's local estate, migrated and seeded (the flows read seeded data)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from estate.environment import Environment
from estate.local import LocalEstate


@pytest.fixture(scope="session")
def seeded(local_estate: LocalEstate, env: Environment) -> Environment:
    from estate.crypto import load_key
    from estate.migrations import migrate
    from estate.seed import seed_estate

    migrate(env)
    seed_estate(env, load_key(local_estate.layout.workdir), 1, 1)
    return env


@pytest.fixture(scope="session")
def load_cli(local_estate: LocalEstate):
    """`estate load --workdir <the session estate> …` as a subprocess."""

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "estate", "load", "--workdir", str(local_estate.layout.workdir), *args],
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"})

    return run

