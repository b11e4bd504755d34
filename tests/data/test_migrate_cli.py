"""`estate migrate` end to end: from empty, twice (no-op), and a bad environment as a one-line error."""
from __future__ import annotations

import json

from tests.data.conftest import run_migrate


def test_from_empty_applies_every_store_and_twice_is_a_noop(first_migrate, local_estate):
    out = first_migrate.stdout
    for store in ("postgres", "nats", "minio"):
        assert any(line.startswith(store) and " applied " in f" {line} " for line in out.splitlines()), out
    again = run_migrate("--workdir", str(local_estate.layout.workdir))
    assert again.returncode == 0, again.stderr
    lines = again.stdout.strip().splitlines()
    assert lines and all("already applied" in line or "skipped" in line for line in lines), again.stdout


def test_wrong_password_is_one_line_error(first_migrate, local_estate, tmp_path):
    src = local_estate.layout.environment_file
    env_file = tmp_path / src.relative_to(local_estate.layout.workdir)
    env_file.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(src.read_text())
    for cred in doc["stores"]["postgres"]["credentials"].values():
        cred["password"] = "not-the-password"
    env_file.write_text(json.dumps(doc))
    proc = run_migrate("--workdir", str(tmp_path), "--store", "postgres")
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "password" in err.lower(), err
    assert "not-the-password" not in err


def test_unknown_store_is_one_line_error(local_estate):
    proc = run_migrate("--workdir", str(local_estate.layout.workdir), "--store", "oracle")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1 and "oracle" in proc.stderr


def test_unreachable_is_one_line_error(first_migrate, local_estate, tmp_path):
    src = local_estate.layout.environment_file
    env_file = tmp_path / src.relative_to(local_estate.layout.workdir)
    env_file.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(src.read_text())
    for ep in doc["stores"]["postgres"]["endpoints"]:
        ep["port"] = 1  # nothing listens there
    env_file.write_text(json.dumps(doc))
    proc = run_migrate("--workdir", str(tmp_path), "--store", "postgres")
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and ("refused" in err or "127.0.0.1:1" in err), err
