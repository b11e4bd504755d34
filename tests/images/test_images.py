"""What is inside the images, checked with testinfra's docker backend: who runs, which tools at which
versions, no private key or secret in any file or in the image config, and PostgreSQL serving."""
from __future__ import annotations

import re
import time

import docker
import psycopg
import pytest
from testinfra.host import Host

from estate.image.build import IMAGES_DIR, extra_ca_certs
from estate.local.binaries import GO_TOOLS

PG_MAJOR = re.search(r"ARG PG_MAJOR=(\d+)", (IMAGES_DIR / "postgres" / "Dockerfile").read_text()).group(1)
# Files holding a private key, anywhere on the image's own filesystem (code that merely names the marker
# in a string, such as a TLS library's .py or .so, is not a key file).
KEY_FILES = (r"grep -rlE --exclude='*.py' --exclude='*.pyc' --exclude='*.so*' "
             r"'^-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev || true")


@pytest.mark.parametrize("which, user, uid", [("harness", "estate", 999), ("postgres", "postgres", 999)])
def test_runs_as_a_non_root_user(running: dict, which: str, user: str, uid: int) -> None:
    host: Host = running[which]
    assert host.user().name == user
    assert host.user().uid == uid != 0
    assert host.check_output("id -u") == str(uid)


def test_harness_tools_at_the_expected_versions(running: dict) -> None:
    host: Host = running["harness"]
    for tool in ("pg_dump", "pg_restore", "psql"):
        assert re.fullmatch(rf"{tool} \(PostgreSQL\) {PG_MAJOR}\.\d+.*", host.check_output(f"{tool} --version")), tool
    assert host.check_output("nats --version") == GO_TOOLS["nats"].version
    assert host.check_output("python3 --version").startswith("Python 3.11.")
    assert host.check_output("estate --help").count("verify") >= 1
    assert host.check_output("/opt/estate/bin/python -c 'import importlib.metadata as m; print(m.version(\"estate\"))'") == "0.1.0"
    for command in ("ss", "ps", "bash", "tar", "locust"):
        assert host.exists(command), command
    assert host.file("/home/estate/loadtests/locustfile.py").exists  # the stacks' Locust pods: -f loadtests/…
    assert host.file("/home/estate/loadtests/profiles/smoke.yaml").exists  # package data is in the wheel


def test_postgres_tools_at_the_expected_versions(running: dict) -> None:
    host: Host = running["postgres"]
    assert re.fullmatch(rf"postgres \(PostgreSQL\) {PG_MAJOR}\.\d+.*", host.check_output("postgres --version"))
    assert re.fullmatch(r"pgBackRest 2\.\d+", host.check_output("pgbackrest version"))
    for command in ("docker-entrypoint.sh", "pg_basebackup", "pg_isready", "initdb", "pg_ctl"):
        assert host.exists(command), command  # what the stacks' StatefulSet and probes call


@pytest.mark.parametrize("which", ["harness", "postgres"])
def test_no_secret_in_files_config_or_history(docker_client: docker.DockerClient, images: dict, running: dict,
                                              which: str) -> None:
    host: Host = running[which]
    assert host.check_output(KEY_FILES) == ""
    assert host.check_output("ls -A /etc/ssl/private 2>/dev/null || true") == ""
    image = docker_client.images.get(images[which])
    env = " ".join(image.attrs["Config"]["Env"] or [])
    assert not re.search(r"PASSWORD|SECRET|TOKEN|_KEY=", env), env
    history = " ".join(h.get("CreatedBy", "") for h in image.history())
    assert "BEGIN CERTIFICATE" not in history and "PIP_CERT" not in history  # the build stage's CA never reaches it
    if certs := extra_ca_certs():
        body = certs.split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0].split()[2]
        assert host.run(f"grep -rqF {body} /etc/ssl/certs /usr/local/share/ca-certificates").rc == 1, \
            "the host's extra CA is in the image's trust store"


def test_postgres_initialises_and_listens(running: dict) -> None:
    host: Host = running["postgres"]
    container = running["postgres_container"]
    deadline = time.monotonic() + 60
    while not host.socket("tcp://0.0.0.0:5432").is_listening:
        assert time.monotonic() < deadline, container.logs().decode()[-2000:]
        time.sleep(0.5)
    assert host.process.get(pid=1).comm == "postgres"  # the entry point exec'd the server
    assert host.process.get(pid=1).user == "postgres"
    container.reload()
    port = container.attrs["NetworkSettings"]["Ports"]["5432/tcp"][0]["HostPort"]
    # from the host through the published port: SCRAM over TCP, the entry point's POSTGRES_DB created
    with psycopg.connect(host="127.0.0.1", port=int(port), user="postgres", password="test-only-password",
                         dbname="the0_ai", connect_timeout=10) as conn:
        assert conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()[0] == int(PG_MAJOR)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=int(port), user="postgres", password="wrong", dbname="the0_ai",
                        connect_timeout=10)
