"""Backup checks on the stored artifact: a stale newest backup, a tampered or missing stored file and an
undeclared schedule each turn a check red naming it; taken back, it holds. The restore drill of the
stored backup reports its RTO per store."""
from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest

from checks import Outcome, run_checks
from estate.backup import MANIFEST, backup, upload
from estate.environment import BackupPolicy, Environment, Role
from estate.stores.minio import MinioAdapter

FRESH = "newest stored backup within the RPO"
MANIFEST_CHECK = "newest stored backup matches its manifest"
RTO = "newest stored backup restores identically (RTO)"


def only(env: Environment, name: str) -> dict:
    return {r.store: r for r in run_checks(env, only={name})}


@pytest.fixture(scope="module")
def stored(env: Environment, tmp_path_factory) -> str:
    """The session estate, migrated, backed up and uploaded as `estate backup --upload` does; the stored name."""
    from estate.migrations import migrate

    migrate(env)
    dest = tmp_path_factory.mktemp("backup") / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    backup(env, dest)
    upload(env, dest, env.backups.bucket)
    return dest.name


def test_the_local_estate_declares_an_hourly_schedule(env: Environment) -> None:
    assert env.backups == BackupPolicy(schedule="hourly", interval=timedelta(hours=1), margin=timedelta(minutes=15))
    assert env.backups.rpo == timedelta(minutes=75)


def test_a_backup_older_than_the_rpo_fails(env: Environment, stored: str) -> None:
    fresh = only(env, FRESH)["minio"]
    assert fresh.outcome == Outcome.holds, fresh.detail
    assert f"estate-backups/{stored}/ is 0:0" in fresh.detail  # minutes old at most
    # The same stored backup against a schedule of every second: it is older than that RPO.
    tight = env.model_copy(update={"backups": BackupPolicy(schedule="every second", interval=timedelta(seconds=1),
                                                           margin=timedelta(0))})
    time.sleep(1.5)
    stale = only(tight, FRESH)["minio"]
    assert stale.outcome == Outcome.fails
    [line] = stale.differences
    assert line.startswith(f"estate-backups/{stored}/ backup age: declared at most 0:00:01 (every second + 0:00:00 margin), live 0:0")


def test_an_old_backup_planted_as_the_newest_fails(env: Environment, stored: str) -> None:
    """An old backup under a newer name (a clock set wrong when it was taken) is the newest one: too old."""
    client = MinioAdapter(env).client(Role.admin)
    bucket, planted = env.backups.bucket, "99991231T000000Z"
    resp = client.get_object(bucket, f"{stored}/{MANIFEST}")
    manifest = resp.read().decode()
    resp.close(), resp.release_conn()
    old = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    data = manifest.replace(manifest.split('"taken_at": "')[1].split('"')[0], old).encode()
    try:
        client.put_object(bucket, f"{planted}/{MANIFEST}", io.BytesIO(data), len(data))
        got = only(env, FRESH)["minio"]
        assert got.outcome == Outcome.fails
        assert got.differences[0].startswith(f"estate-backups/{planted}/ backup age: declared at most 1:15:00 (hourly + 0:15:00 margin), live 2 days")
    finally:
        client.remove_object(bucket, f"{planted}/{MANIFEST}")
    assert only(env, FRESH)["minio"].outcome == Outcome.holds


def test_an_environment_without_a_schedule_fails(env: Environment) -> None:
    got = only(env.model_copy(update={"backups": None}), FRESH)["minio"]
    assert got.outcome == Outcome.fails
    assert got.differences == ["environment local: declares no backup schedule (backups: schedule, interval, margin)"]


def test_a_tampered_or_missing_stored_file_fails(env: Environment, stored: str) -> None:
    assert only(env, MANIFEST_CHECK)["minio"].outcome == Outcome.holds
    client = MinioAdapter(env).client(Role.admin)
    bucket, dump = env.backups.bucket, f"{stored}/postgres/postgres.dump"
    config = next(o.object_name for o in client.list_objects(bucket, prefix=f"{stored}/nats/", recursive=True)
                 if o.object_name.endswith(".json"))
    originals = {}
    for key in (dump, config):
        resp = client.get_object(bucket, key)
        originals[key] = resp.read()
        resp.close(), resp.release_conn()
    try:
        # One byte of the PostgreSQL dump flipped (same size), and a stream's config removed.
        bad = bytearray(originals[dump])
        bad[len(bad) // 2] ^= 0xFF
        client.put_object(bucket, dump, io.BytesIO(bytes(bad)), len(bad))
        client.remove_object(bucket, config)
        got = only(env, MANIFEST_CHECK)["minio"]
        assert got.outcome == Outcome.fails
        assert len(got.differences) == 2, got.differences
        assert got.differences[0].startswith(f"estate-backups/{dump} sha256: declared ")
        assert got.differences[1] == f"estate-backups/{config} size: declared {len(originals[config])}, live absent"
    finally:
        for key, data in originals.items():
            client.put_object(bucket, key, io.BytesIO(data), len(data))
    assert only(env, MANIFEST_CHECK)["minio"].outcome == Outcome.holds


def test_the_stored_backup_restores_and_reports_its_rto(env: Environment, stored: str) -> None:
    got = only(env, RTO)
    assert set(got) == {"postgres", "mongo", "nats", "minio"}
    for store, r in got.items():
        assert r.outcome == Outcome.holds, (store, r.detail, r.differences)
        assert r.detail.startswith(f"estate-backups/{stored}/: ") and "RTO " in r.detail
