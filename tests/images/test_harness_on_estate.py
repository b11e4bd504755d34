"""The harness image against the host's local estate (host network): the backup and verify CronJobs'
commands as the image's own user (999) with the environment mounted as a file, and the host hygiene
checks of `estate verify --env local`, which need root."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from estate.environment import Environment, Role
from estate.local import LocalEstate
from estate.stores.minio import MinioAdapter

ENV_DIR = "/etc/estate/environment"  # where the stacks mount the environment Secret (infra/operations.py)
HOST_CHECKS = ("host: secret files mode 0600", "host: data directories not world-readable",
               "host: listening on loopback only", "host: no password in command lines or logs")


@pytest.fixture(scope="module")
def healthy(local_estate: LocalEstate) -> LocalEstate:
    """Migrated, seeded and a backup uploaded, as `make demo` leaves it before it verifies."""
    for step in (["migrate"], ["seed", "--scale", "1"], ["backup", "--upload"]):
        proc = subprocess.run([sys.executable, "-m", "estate", *step, "--workdir", str(local_estate.layout.workdir)],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"estate {' '.join(step)}: {proc.stdout}{proc.stderr}"
    return local_estate


def _run(client: docker.DockerClient, image: str, command: list[str], **kw) -> tuple[int, str]:
    container = client.containers.run(image, command, detach=True, network_mode="host", **kw)
    try:
        status = container.wait(timeout=600)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def mounted(env: Environment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environment as the stacks' CronJobs get it: a read-only directory of uid 999 (a Secret there)
    holding environment.json, in its in-cluster form, and the CA it names."""
    mounted = tmp_path_factory.mktemp("mounted") / "environment"
    mounted.mkdir()
    (mounted / "ca.crt").write_bytes(env.ca_file.read_bytes())
    in_cluster = env.model_copy(update={"ca_file": Path(f"{ENV_DIR}/ca.crt"), "workdir": None})
    (mounted / "environment.json").write_text(in_cluster.dump_json())
    for f in (mounted, *mounted.iterdir()):
        f.chmod(0o500 if f.is_dir() else 0o400)
        os.chown(f, 999, 999)
    return mounted


def _in_cluster(mounted: Path) -> dict:
    """docker run arguments of a CronJob's container: the image's own user, the environment mounted."""
    return {"user": "999", "environment": {"ESTATE_ENVIRONMENT_FILE": f"{ENV_DIR}/environment.json"},
            "volumes": {str(mounted): {"bind": ENV_DIR, "mode": "ro"}}}


def test_backup_cronjob_command_uploads_to_the_backup_bucket(docker_client, images, healthy: LocalEstate,
                                                             env: Environment, mounted: Path) -> None:
    client = MinioAdapter(env).client(Role.admin)
    before = {o.object_name for o in client.list_objects("estate-backups")} if client.bucket_exists("estate-backups") else set()
    status, logs = _run(docker_client, images["harness"],
                        ["estate", "backup", "--env", "in-cluster", "--workdir", "/tmp/estate", "--upload",
                         "--bucket", "estate-backups"], **_in_cluster(mounted))
    assert status == 0, logs
    prefix = logs.split("uploaded to estate-backups/")[1].split()[0]
    assert prefix not in before
    uploaded = {o.object_name for o in client.list_objects("estate-backups", prefix=prefix, recursive=True)}
    assert f"{prefix}manifest.json" in uploaded
    manifest = json.loads(client.get_object("estate-backups", f"{prefix}manifest.json").read())
    assert set(manifest["stores"]) == {"postgres", "mongo", "nats", "minio"}
    assert {p.split("/")[1] for p in uploaded if p.count("/") > 1} == {"postgres", "mongo", "nats", "minio"}


def test_verify_cronjob_command_holds_as_the_image_user(docker_client, images, healthy: LocalEstate,
                                                        mounted: Path) -> None:
    # The estate-verify CronJob's command as uid 999, with the sealing key an operator would supply (the
    # stacks' environment Secret does not carry it): every check over the network holds or is unsupported
    # by the server (FerretDB); only the host's own checks are left to the root run below.
    run = _in_cluster(mounted)
    key = (healthy.layout.workdir / "secrets" / "secret.key").read_bytes()
    run["environment"]["ESTATE_SECRET_KEY"] = base64.b64encode(key).decode()
    status, logs = _run(docker_client, images["harness"], ["estate", "verify", "--env", "in-cluster"], **run)
    assert status == 0, logs
    assert " 0 fail, " in logs, logs
    lines = logs.splitlines()
    host = [line for line in lines if any(name in line for name in HOST_CHECKS)]
    assert len(host) == 4 * len(HOST_CHECKS) and all(line.startswith("unsupported") for line in host), logs
    sealed = [line for line in lines if "API-key secrets sealed" in line]
    assert len(sealed) == 2 and all(line.startswith("holds") for line in sealed), sealed


def test_host_hygiene_from_the_container_as_root(docker_client, images, healthy: LocalEstate) -> None:
    # What verify --env local adds to the above needs root and cannot run as uid 999 (tried: it stops at
    # the work dir's environment.json, root's and 0600): the host hygiene checks read the local estate's
    # secret files and walk its data directories, and "buckets encrypt at rest" reads MinIO's drive files,
    # all root's (or the postgres user's) with modes 0600 and 0700 — the modes the checks require, so no
    # other user may read them, and a copy readable by 999 would be another file. So: the host's network,
    # processes and users, the work dir at its own path, as root, and only these checks.
    wd = str(healthy.layout.workdir)
    host_users = {f: {"bind": f, "mode": "ro"} for f in ("/etc/passwd", "/etc/group")}
    only = [arg for name in (*HOST_CHECKS, "buckets encrypt at rest") for arg in ("--only", name)]
    status, logs = _run(docker_client, images["harness"], ["estate", "verify", "--env", "local", "--workdir", wd, *only],
                        pid_mode="host", user="0", volumes={wd: {"bind": wd, "mode": "rw"}, **host_users})
    assert status == 0, logs
    assert f"{4 * len(HOST_CHECKS) + 1} hold, 0 warn, 0 fail, 0 unsupported on local" in logs, logs
    assert "none of its plaintext on the 4 raw drives" in logs, logs
