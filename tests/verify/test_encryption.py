"""Encryption beyond transit: each defect planted by hand (an old TLS version allowed, a certificate
re-issued expiring or for another host, a bucket's default encryption removed, a backup copied up
without SSE, an API-key secret written in clear) makes its check FAIL naming it; taken back, it holds."""
from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from bson import ObjectId
from minio.sseconfig import Rule, SSEConfig

from checks import Outcome
from estate.environment import Environment, Role
from estate.local import LocalEstate
from estate.local.pki import issue_server_cert
from estate.stores import adapter
from estate.tls_probe import Target, accepts
from tests.verify.planted import estate_cli, fails_naming, holds, pg_admin, pg_system_settings, seeded  # noqa: F401  (fixture)

TLS, CERTS = "TLS 1.2+ only", "certificates verify, match and are not expiring"
AT_REST, BACKUPS, SEALED = "buckets encrypt at rest", "uploaded backups carry SSE", "API-key secrets sealed"


def test_the_probe_really_offers_tls_1_1(tmp_path: Path) -> None:
    """Against a throwaway `openssl s_server` that speaks only TLS 1.1, the probe's TLS 1.1 handshake
    succeeds and its TLS 1.2 one does not: a refusal by a store is the store's doing."""
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    from estate.local.process import port_free
    port = next(p for p in range(29400, 29500) if port_free(p))
    server = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert, "-key", key,
                               "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", "-www", "-quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = Target("s_server", "127.0.0.1", port)
        deadline = time.monotonic() + 10
        while port_free(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert accepts(target, "TLS 1.1")
        assert not accepts(target, "TLS 1.2") and not accepts(target, "TLS 1.0")
    finally:
        server.kill()
        server.wait()


def test_a_healthy_estate_holds(seeded: Environment) -> None:
    for kind in ("postgres", "mongo", "nats", "minio"):
        holds(seeded, kind, TLS)
        holds(seeded, kind, CERTS)
    holds(seeded, "minio", AT_REST)
    holds(seeded, "postgres", SEALED)
    res = holds(seeded, "mongo", SEALED)
    assert not res.detail.startswith("0 "), res.detail  # the seed wrote sealed keys: they were all opened


def test_a_server_that_allows_tls_1_1_fails(seeded: Environment) -> None:
    ep = seeded.store("postgres").endpoint("primary")
    with pg_system_settings(seeded, ssl_min_protocol_version="TLSv1.1", ssl_ciphers="DEFAULT:@SECLEVEL=0"):
        fails_naming(seeded, "postgres", TLS, f"postgres postgres-primary {ep.address} TLS 1.1: declared refused, live accepted")
    holds(seeded, "postgres", TLS)


@contextmanager
def pg_primary_certificate(local_estate: LocalEstate, env: Environment, cert: bytes, key: bytes):
    """Install another server certificate on the primary and reload, as an operator rotating it would;
    the original files come back afterwards."""
    data = local_estate.postgres.primary_dir
    saved = {name: (data / name).read_bytes() for name in ("server.crt", "server.key")}

    def install(files: dict[str, bytes]) -> None:
        for name, content in files.items():
            (data / name).write_bytes(content)
            if local_estate.postgres.owner:
                os.chown(data / name, *local_estate.postgres.owner)
        (data / "server.key").chmod(0o600)
        os.kill(local_estate.postgres.processes()[0].pid(), signal.SIGHUP)  # pg_ctl reload: a client may not verify it
        time.sleep(0.5)

    install({"server.crt": cert, "server.key": key})
    try:
        yield
    finally:
        install(saved)


def reissued(local_estate: LocalEstate, env: Environment, **kw):
    """The primary's certificate re-issued by the estate's CA with ``issue_server_cert`` options."""
    return pg_primary_certificate(local_estate, env, *issue_server_cert(local_estate.layout.tls_dir, **kw))


def test_certificates_near_expiry_warn_then_fail(local_estate: LocalEstate, seeded: Environment) -> None:
    with reissued(local_estate, seeded, validity=dt.timedelta(days=10)):
        fails_naming(seeded, "postgres", CERTS, "postgres postgres-primary certificate expires in 10.0 days",
                     "within the 30-day warning window", outcome=Outcome.warns)
        proc = estate_cli("verify", "--workdir", str(local_estate.layout.workdir), "--only", CERTS,
                          "--cert-warn-days", "5", "--cert-fail-days", "2")
        assert proc.returncode == 0 and "expires in" not in proc.stdout, proc.stdout
    with reissued(local_estate, seeded, validity=dt.timedelta(days=3)):
        fails_naming(seeded, "postgres", CERTS, "postgres postgres-primary certificate expires in 3.0 days",
                     "under the 7-day limit")
    holds(seeded, "postgres", CERTS)


def test_a_certificate_for_another_host_fails(local_estate: LocalEstate, seeded: Environment) -> None:
    with reissued(local_estate, seeded, hosts=("db.elsewhere.example",)):
        fails_naming(seeded, "postgres", CERTS, "postgres postgres-primary 127.0.0.1",
                     "address mismatch, certificate is not valid for '127.0.0.1'")
    holds(seeded, "postgres", CERTS)


def test_a_certificate_from_another_ca_fails(local_estate: LocalEstate, seeded: Environment, tmp_path: Path) -> None:
    from estate.local.pki import ensure_pki

    ensure_pki(tmp_path)  # another CA altogether, and a certificate it signed
    with pg_primary_certificate(local_estate, seeded, (tmp_path / "server.crt").read_bytes(),
                                (tmp_path / "server.key").read_bytes()):
        fails_naming(seeded, "postgres", CERTS, "postgres postgres-primary 127.0.0.1", "unable to get local issuer certificate")
    holds(seeded, "postgres", CERTS)


def test_a_bucket_without_default_encryption_fails(local_estate: LocalEstate, seeded: Environment) -> None:
    client = adapter(seeded, "minio").client(Role.admin)
    client.delete_bucket_encryption("logs")
    try:
        fails_naming(seeded, "minio", AT_REST, "minio bucket logs default encryption: declared SSE, live none",
                     "(stored in clear)", "holds the object's plaintext")
    finally:
        client.set_bucket_encryption("logs", SSEConfig(Rule.new_sse_s3_rule()))
    res = holds(seeded, "minio", AT_REST)
    assert "raw drives" in res.detail


def test_a_backup_copied_up_without_sse_fails(local_estate: LocalEstate, seeded: Environment) -> None:
    proc = estate_cli("backup", "--store", "postgres", "--upload", "--workdir", str(local_estate.layout.workdir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    holds(seeded, "minio", BACKUPS)
    client = adapter(seeded, "minio").client(Role.admin)
    key = "by-hand/manifest.json"
    # the bucket encrypts by default, so an operator has to switch that off too before `mc cp` without --encrypt
    client.delete_bucket_encryption("estate-backups")
    try:
        client.put_object("estate-backups", key, io.BytesIO(b"{}"), 2)
        fails_naming(seeded, "minio", BACKUPS, f"minio object estate-backups/{key} encryption: declared SSE, live none")
    finally:
        client.remove_object("estate-backups", key)
        client.set_bucket_encryption("estate-backups", SSEConfig(Rule.new_sse_s3_rule()))
    holds(seeded, "minio", BACKUPS)


def test_an_api_key_secret_written_in_clear_fails(seeded: Environment) -> None:
    with pg_admin(seeded) as conn:
        row_id = conn.execute("INSERT INTO exchange_api_keys (user_id, exchange, api_key, secret_sealed) "
                              "VALUES ('planted-user', 'binance', 'planted-key', %s) RETURNING id",
                              (b"my-clear-secret",)).fetchone()[0]
    try:
        fails_naming(seeded, "postgres", SEALED, "exchange_api_keys binance/planted-user: a sealed secret does not decrypt")
    finally:
        with pg_admin(seeded) as conn:
            conn.execute("DELETE FROM exchange_api_keys WHERE id = %s", (row_id,))
    holds(seeded, "postgres", SEALED)

    doc_id = ObjectId()
    with adapter(seeded, "mongo").client(Role.admin) as c:
        c["bot_core"]["api_keys"].insert_one({"_id": doc_id, "user_id": "planted", "exchange": "binance",
                                              "api_key": "planted-key", "secret": "my-clear-secret"})
        try:
            fails_naming(seeded, "mongo", SEALED, f"bot_core.api_keys {doc_id}: has a clear `secret` field")
        finally:
            c["bot_core"]["api_keys"].delete_one({"_id": doc_id})
    holds(seeded, "mongo", SEALED)


@pytest.mark.parametrize("warn, fail", [("3", "9"), ("x", "1")])
def test_bad_thresholds_are_one_line_errors(local_estate: LocalEstate, warn: str, fail: str) -> None:
    proc = estate_cli("verify", "--workdir", str(local_estate.layout.workdir), "--only", CERTS,
                      "--cert-warn-days", warn, "--cert-fail-days", fail)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
