"""Helpers for the planted-defect tests of the durability, encryption and privilege checks: run one check
of one store, assert how it ends and which lines name the defect; the estate migrated and seeded once."""
from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

import psycopg
import pytest

from checks import Outcome, run_checks
from estate.environment import Environment, Role
from estate.stores import adapter


def estate_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estate", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def seeded(local_estate, env: Environment) -> Environment:
    """The session estate migrated and seeded (both idempotent), as a user does it."""
    workdir = str(local_estate.layout.workdir)
    for args in (("migrate",), ("seed", "--scale", "1", "--seed", "7", "--as-of", "2026-11-01")):
        proc = estate_cli(*args, "--workdir", workdir)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return env


def result(env: Environment, kind: str, name: str):
    """The one check ``name`` of store ``kind``, through the runner."""
    [res] = run_checks(env.model_copy(update={"stores": {kind: env.stores[kind]}}), only={name})
    return res


def fails_naming(env: Environment, kind: str, name: str, *fragments: str, outcome: Outcome = Outcome.fails):
    """Assert the check ends with ``outcome`` and each fragment is in one of its difference lines."""
    res = result(env, kind, name)
    assert res.outcome == outcome, (res.outcome, res.detail, res.differences)
    for fragment in fragments:
        assert any(fragment in line for line in res.differences), (fragment, res.detail, res.differences)
    return res


def holds(env: Environment, kind: str, name: str, within: float = 0.0):
    """Assert the check holds (retried for ``within`` seconds while a server settles)."""
    deadline = time.monotonic() + within
    while True:
        res = result(env, kind, name)
        if res.outcome == Outcome.holds or time.monotonic() >= deadline:
            assert res.outcome == Outcome.holds, (res.detail, res.differences)
            return res
        time.sleep(1)


def pg_admin(env: Environment) -> psycopg.Connection:
    return adapter(env, "postgres").connect(Role.admin, autocommit=True)


@contextmanager
def pg_system_settings(env: Environment, **settings: str):
    """ALTER SYSTEM SET each setting + reload, as an operator would; put back as it was (auto.conf or not)."""
    with pg_admin(env) as conn:
        before = {name: conn.execute("SELECT setting FROM pg_file_settings WHERE name = %s AND sourcefile LIKE "
                                     "'%%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1", (name,)).fetchone()
                  for name in settings}
        for name, value in settings.items():
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)
    try:
        yield
    finally:
        with pg_admin(env) as conn:
            for name, old in before.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{old[0]}'" if old else f"ALTER SYSTEM RESET {name}")
            conn.execute("SELECT pg_reload_conf()")
        time.sleep(0.5)
