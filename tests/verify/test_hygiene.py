"""Host hygiene checks: each defect planted by hand on the session's estate turns its check red with a
line naming it, and the check holds again once the defect is taken back."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks import Outcome, run_checks
from estate.environment import Environment, Role
from estate.local import LocalEstate
from estate.local.process import free_port

SECRETS = "host: secret files mode 0600"
DATA_DIRS = "host: data directories not world-readable"
LOOPBACK = "host: listening on loopback only"
PASSWORDS = "host: no password in command lines or logs"


def results(env: Environment, name: str) -> dict[str, object]:
    return {r.store: r for r in run_checks(env, only={name})}


def assert_all_hold(env: Environment, name: str) -> None:
    got = results(env, name)
    assert set(got) == {"postgres", "mongo", "nats", "minio"}
    assert {s: r.outcome for s, r in got.items()} == dict.fromkeys(got, Outcome.holds), {s: r.differences or r.detail for s, r in got.items()}


@pytest.fixture
def workdir(local_estate: LocalEstate) -> Path:
    return local_estate.layout.workdir


def test_secret_files_readable_by_others_fail(env: Environment, workdir: Path) -> None:
    assert_all_hold(env, SECRETS)
    planted = [workdir / "secrets.json", workdir / "tls" / "server.key", workdir / "minio" / "certs" / "private.key"]
    try:
        for path in planted:
            path.chmod(0o644)
        got = results(env, SECRETS)
        assert {s: r.outcome for s, r in got.items()} == dict.fromkeys(got, Outcome.fails)
        for store, r in got.items():
            assert f"{store} file secrets.json mode: declared 0600, live 0644" in r.differences
            assert f"{store} file tls/server.key mode: declared 0600, live 0644" in r.differences
        assert "minio file minio/certs/private.key mode: declared 0600, live 0644" in got["minio"].differences
        assert not any("private.key" in line for line in got["postgres"].differences)
    finally:
        for path in planted:
            path.chmod(0o600)
    assert_all_hold(env, SECRETS)


def test_world_readable_data_directory_fails(env: Environment, workdir: Path) -> None:
    assert_all_hold(env, DATA_DIRS)
    drive = workdir / "minio" / "d1"
    mode = drive.stat().st_mode & 0o777
    try:
        drive.chmod(mode | 0o004)
        got = results(env, DATA_DIRS)
        assert got["minio"].outcome == Outcome.fails
        assert got["minio"].differences == [
            f"minio directory minio/d1 mode: declared no access for others (o-rw), live {mode | 0o004:04o}"]
        assert got["postgres"].outcome == Outcome.holds
    finally:
        drive.chmod(mode)
    assert_all_hold(env, DATA_DIRS)


def test_password_in_a_server_log_fails(env: Environment, workdir: Path) -> None:
    log = workdir / "logs" / "postgres-primary.log"
    line = f"FATAL: could not connect with {env.postgres_url(Role.admin)}\n"
    assert results(env, PASSWORDS)["postgres"].outcome == Outcome.holds
    try:
        with log.open("a") as fh:
            fh.write(line)
        got = results(env, PASSWORDS)["postgres"]
        assert got.outcome == Outcome.fails
        assert got.differences == ["postgres log logs/postgres-primary.log: holds the postgres admin password"]
        assert env.store("postgres").credential(Role.admin).password.get_secret_value() not in got.detail
    finally:
        log.write_text(log.read_text().replace(line, ""))  # the server appends (O_APPEND): its lines stay
    assert_all_hold(env, PASSWORDS)


def test_password_in_a_command_line_fails(env: Environment) -> None:
    # An operator's client left running with the connection URL, password included, in its argv.
    client = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", env.postgres_url(Role.app)])
    try:
        got = results(env, PASSWORDS)
        assert got["postgres"].outcome == Outcome.fails
        [line] = got["postgres"].differences
        assert line.startswith(f"postgres process {client.pid} (")
        assert line.endswith(") command line: holds the postgres app password")
        assert got["nats"].outcome == Outcome.holds  # another store's password is not in it
    finally:
        client.kill()
        client.wait()
    assert_all_hold(env, PASSWORDS)


def test_listener_beyond_loopback_fails(env: Environment, workdir: Path) -> None:
    assert_all_hold(env, LOOPBACK)
    # An operator serves the MinIO drives over HTTP to look at them, on every interface.
    port = free_port("0.0.0.0")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "--directory",
                               str(workdir / "minio"), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        got = results(env, LOOPBACK)
        assert got["minio"].outcome == Outcome.fails
        [line] = got["minio"].differences
        assert line.startswith(f"minio listener tcp port {port} (")
        assert line.endswith(f" pid {server.pid}) address: declared loopback only, live 0.0.0.0")
        assert got["postgres"].outcome == Outcome.holds
    finally:
        server.kill()
        server.wait()
    assert_all_hold(env, LOOPBACK)


def test_without_a_host_backend_every_hygiene_check_is_unsupported(env: Environment) -> None:
    remote = env.model_copy(update={"workdir": None, "name": "staging"})
    got = [r for r in run_checks(remote, only={SECRETS, DATA_DIRS, LOOPBACK, PASSWORDS})]
    assert len(got) == 16
    assert {r.outcome for r in got} == {Outcome.unsupported}
    assert {r.detail for r in got} == {"staging: host hygiene needs a host backend; kubectl backend not wired yet"}
