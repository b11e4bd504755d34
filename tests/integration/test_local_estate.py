"""The local estate of real servers: TLS everywhere, replication, cluster, erasure coding, lifecycle."""
from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from minio.sse import SseS3
from minio.sseconfig import Rule, SSEConfig
from nats.js.api import StreamConfig
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from estate.environment import Credential, Environment, Role
from estate.errors import EstateError
from estate.local import LocalEstate
from estate.stores import adapter, adapters

KINDS = ("postgres", "mongo", "nats", "minio")


@pytest.mark.parametrize("kind", KINDS)
def test_store_answers_over_tls_with_generated_ca(env: Environment, kind: str) -> None:
    assert adapter(env, kind).roundtrip(Role.app)


@pytest.mark.parametrize("kind", KINDS)
def test_plaintext_connection_is_refused(env: Environment, kind: str) -> None:
    assert adapter(env, kind).plaintext_refused()


@pytest.mark.parametrize("kind", KINDS)
def test_every_server_reports_up_with_tls(env: Environment, kind: str) -> None:
    statuses = adapter(env, kind).status()
    assert statuses and all(st.up and st.tls and st.version for st in statuses), statuses


def test_postgres_standby_is_synchronous_and_sees_primary_writes(env: Environment) -> None:
    pg = adapter(env, "postgres")
    token = uuid.uuid4().hex
    with pg.connect(Role.admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS estate_repl_probe (v text PRIMARY KEY)")
        conn.execute("INSERT INTO estate_repl_probe VALUES (%s)", (token,))
        rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
    assert ("standby1", "sync") in rows
    # synchronous_commit=on waits for the standby to flush, not to replay: poll replay briefly.
    with pg.connect(Role.admin, "standby") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        for _ in range(50):
            if conn.execute("SELECT count(*) FROM estate_repl_probe WHERE v = %s", (token,)).fetchone()[0]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("row written on the primary never appeared on the standby")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO estate_repl_probe VALUES ('x')")
    with pg.connect(Role.admin, autocommit=True) as conn:  # undeclared tables are drift: leave none behind
        conn.execute("DROP TABLE estate_repl_probe")


def test_postgres_archives_wal(local_estate: LocalEstate, env: Environment) -> None:
    with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
        conn.execute("SELECT pg_switch_wal()")
        for _ in range(50):
            archived = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()[0]
            if archived:
                break
            time.sleep(0.1)
    assert archived > 0
    assert any(local_estate.postgres.archive_dir.iterdir())


def test_postgres_wrong_password_is_one_line_error(env: Environment) -> None:
    bad = env.model_copy(deep=True)
    pg = bad.stores["postgres"]
    pg.credentials[Role.app] = Credential(username=pg.credentials[Role.app].username, password="wrong")
    with pytest.raises(EstateError, match="password authentication failed"):
        adapter(bad, "postgres").connect(Role.app)


def test_nats_cluster_has_three_members_and_accepts_r3_stream(env: Environment) -> None:
    nats_adapter = adapter(env, "nats")
    statuses = nats_adapter.status()
    assert len(statuses) == 3
    assert {st.extra["server_name"] for st in statuses} == {"n1", "n2", "n3"}
    assert all(len(st.extra["connect_urls"]) == 3 for st in statuses)

    async def r3() -> tuple[int, str | None]:
        nc = await nats_adapter.connect(Role.app)
        js = nc.jetstream()
        name = f"R3TEST_{uuid.uuid4().hex[:6].upper()}"
        info = await js.add_stream(StreamConfig(name=name, subjects=[f"r3test.{name}"], num_replicas=3))
        await js.publish(f"r3test.{name}", b"x")
        info = await js.stream_info(name)
        await js.delete_stream(name)
        await nc.close()
        return len(info.cluster.replicas or []), info.cluster.leader

    followers, leader = asyncio.run(r3())
    assert followers == 2 and leader in {"n1", "n2", "n3"}


def test_nats_readonly_user_cannot_publish_to_streams(env: Environment) -> None:
    nats_adapter = adapter(env, "nats")

    async def attempt() -> None:
        nc = await nats_adapter.connect(Role.readonly)
        try:
            await nc.jetstream().add_stream(StreamConfig(name="RO_DENIED", subjects=["ro.denied"]))
        finally:
            await nc.close()

    with pytest.raises(Exception):
        asyncio.run(attempt())


@contextmanager
def scratch_bucket(env: Environment, name: str):
    """A bucket made by admin (the app user may not create buckets) and removed with every version after."""
    admin = adapter(env, "minio").client(Role.admin)
    if not admin.bucket_exists(name):
        admin.make_bucket(name)
    try:
        yield name
    finally:
        for obj in admin.list_objects(name, recursive=True, include_version=True):
            admin.remove_object(name, obj.object_name, version_id=obj.version_id)
        admin.remove_bucket(name)


def test_minio_all_drives_online_and_sse_object_roundtrip(env: Environment) -> None:
    mn = adapter(env, "minio")
    drives = mn.drives()
    assert len(drives) == 4 and all(d["state"] == "ok" for d in drives)
    with scratch_bucket(env, "estate-test-sse") as bucket:
        _sse_roundtrip(mn.client(Role.app), adapter(env, "minio").client(Role.admin), bucket)


def _sse_roundtrip(client, admin, bucket: str) -> None:
    body = b"estate" * 1000
    client.put_object(bucket, "obj", io.BytesIO(body), len(body), sse=SseS3())
    assert client.stat_object(bucket, "obj").metadata["x-amz-server-side-encryption"] == "AES256"
    assert client.get_object(bucket, "obj").read() == body
    # default bucket encryption (SSE-S3 through the KMS key): an object put without SSE is encrypted
    admin.set_bucket_encryption(bucket, SSEConfig(Rule.new_sse_s3_rule()))
    client.put_object(bucket, "plain-put", io.BytesIO(body), len(body))
    assert client.stat_object(bucket, "plain-put").metadata["x-amz-server-side-encryption"] == "AES256"


def test_minio_sse_leaves_no_plaintext_on_the_drives(local_estate: LocalEstate, env: Environment) -> None:
    client = adapter(env, "minio").client(Role.app)
    with scratch_bucket(env, "estate-test-at-rest") as bucket:
        secret, control = uuid.uuid4().hex.encode() * 64, uuid.uuid4().hex.encode() * 64
        client.put_object(bucket, "encrypted", io.BytesIO(secret), len(secret), sse=SseS3())
        client.put_object(bucket, "control", io.BytesIO(control), len(control))  # no SSE: the negative control
        assert local_estate.minio.drives_contain(control[:32])  # the probe does find plaintext when it is there
        assert not local_estate.minio.drives_contain(secret[:32])


def test_minio_survives_losing_a_drive_and_heals_it(local_estate: LocalEstate, env: Environment) -> None:
    mn = adapter(env, "minio")
    client = mn.client(Role.app)
    with scratch_bucket(env, "estate-test-drive-loss") as bucket:
        _survive_drive_loss(local_estate, mn, client, bucket)


def _survive_drive_loss(local_estate: LocalEstate, mn, client, bucket: str) -> None:
    before = uuid.uuid4().bytes * 4096
    client.put_object(bucket, "before", io.BytesIO(before), len(before), sse=SseS3())
    local_estate.minio.replace_drive(4)
    assert client.get_object(bucket, "before").read() == before  # readable with a drive gone
    during = uuid.uuid4().bytes * 4096
    client.put_object(bucket, "during", io.BytesIO(during), len(during), sse=SseS3())  # and writable
    assert client.get_object(bucket, "during").read() == during
    states = [d["state"] for d in mn.drives()]
    assert "ok" in states and states.count("ok") >= 3
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # MinIO formats and heals the fresh drive on its own
        if all(d["state"] == "ok" for d in mn.drives()) and (local_estate.minio.drive(4) / bucket).exists():
            break
        time.sleep(1)
    else:
        pytest.fail(f"the replaced drive was not healed: {[d['state'] for d in mn.drives()]}")


def test_minio_readonly_user_cannot_write(env: Environment) -> None:
    from minio.error import S3Error

    client = adapter(env, "minio").client(Role.readonly)
    with pytest.raises(S3Error, match="Access Denied"):
        client.make_bucket("estate-ro-denied")


def test_mongo_roundtrip_with_auth_and_bad_password_rejected(env: Environment) -> None:
    mg = adapter(env, "mongo")
    assert "auth" in mg.roundtrip(Role.app)
    cred = env.store("mongo").credential(Role.app)
    ep = env.store("mongo").endpoint()
    with MongoClient(host=ep.host, port=ep.port, tls=True, tlsCAFile=str(env.ca_file), username=cred.username,
                     password="wrong", authSource="admin", authMechanism="SCRAM-SHA-256",
                     serverSelectionTimeoutMS=3000) as c, pytest.raises(OperationFailure):
        c.admin.command("ping")


def test_mongo_server_states_what_it_lacks(env: Environment) -> None:
    store = env.store("mongo")
    if store.server == "ferretdb":
        assert {"replica_set", "transactions", "time_series"} <= set(store.lacks())
        assert any("FerretDB" in note for note in store.notes)
    else:
        assert store.lacks() == []


def test_environment_file_is_private(local_estate: LocalEstate) -> None:
    for path in (local_estate.layout.environment_file, local_estate.layout.secrets_file,
                 local_estate.layout.tls_dir / "ca.key", local_estate.layout.tls_dir / "server.key"):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_estate_env_exports(local_estate: LocalEstate) -> None:
    out = subprocess.run([sys.executable, "-m", "estate", "env", "--workdir", str(local_estate.layout.workdir)],
                         capture_output=True, text=True, check=True).stdout
    for key in ("ESTATE_CA_FILE", "DATABASE_URL", "DATABASE_STANDBY_URL", "MONGODB_URI", "NATS_URL",
                "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        assert f"export {key}=" in out
    assert "sslmode=verify-full" in out


def test_up_twice_is_harmless(local_estate: LocalEstate) -> None:
    pids = {p.name: p.pid() for p in local_estate.processes()}
    report = local_estate.up()
    assert report.started == []
    assert {p.name: p.pid() for p in local_estate.processes()} == pids


def test_port_in_use_is_one_line_error(local_estate: LocalEstate) -> None:
    other = Path(tempfile.mkdtemp(prefix="estate-other-", dir="/tmp"))
    proc = subprocess.run(
        [sys.executable, "-m", "estate", "up", "--workdir", str(other),
         "--base-port", str(local_estate.layout.ports.base)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("·")]
    assert len(lines) == 1 and "in use" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    shutil.rmtree(other)


def test_down_stops_every_process_then_up_keeps_data(local_estate: LocalEstate, env: Environment) -> None:
    token = uuid.uuid4().hex
    with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS estate_persist_probe (v text)")
        conn.execute("INSERT INTO estate_persist_probe VALUES (%s)", (token,))
    pids = [p.pid() for p in local_estate.processes()]
    assert all(pids)
    local_estate.down()
    from estate.local.process import pid_alive

    assert not any(pid_alive(pid) for pid in pids)
    assert not any(p.running() for p in local_estate.processes())
    report = local_estate.up()
    assert len(report.started) == len(pids)
    with adapter(env, "postgres").connect(Role.admin, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM estate_persist_probe WHERE v = %s", (token,)).fetchone()[0] == 1
        conn.execute("DROP TABLE estate_persist_probe")
    assert all(a.roundtrip() for a in adapters(env))
