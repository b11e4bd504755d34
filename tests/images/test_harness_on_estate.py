"""The harness image against the host's local estate (host network): the nightly backup CronJob's
command as the image's own user with the environment mounted as a file, and `estate verify --env local`."""
from __future__ import annotations

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


def test_backup_cronjob_command_uploads_to_the_backup_bucket(docker_client, images, healthy: LocalEstate,
                                                             env: Environment, tmp_path: Path) -> None:
    # As in the stacks' estate-backup CronJob: uid 999, the environment a read-only file (a Secret there).
    mounted = tmp_path / "environment"
    mounted.mkdir()
    (mounted / "ca.crt").write_bytes(env.ca_file.read_bytes())
    in_cluster = env.model_copy(update={"ca_file": Path("/etc/estate/environment/ca.crt"), "workdir": None})
    (mounted / "environment.json").write_text(in_cluster.dump_json())
    for f in (mounted, *mounted.iterdir()):
        f.chmod(0o500 if f.is_dir() else 0o400)
        os.chown(f, 999, 999)
    client = MinioAdapter(env).client(Role.admin)
    before = {o.object_name for o in client.list_objects("estate-backups")} if client.bucket_exists("estate-backups") else set()
    status, logs = _run(docker_client, images["harness"],
                        ["estate", "backup", "--env", "in-cluster", "--workdir", "/tmp/estate", "--upload",
                         "--bucket", "estate-backups"],
                        environment={"ESTATE_ENVIRONMENT_FILE": "/etc/estate/environment/environment.json"},
                        volumes={str(mounted): {"bind": "/etc/estate/environment", "mode": "ro"}})
    assert status == 0, logs
    prefix = logs.split("uploaded to estate-backups/")[1].split()[0]
    assert prefix not in before
    uploaded = {o.object_name for o in client.list_objects("estate-backups", prefix=prefix, recursive=True)}
    assert f"{prefix}manifest.json" in uploaded
    manifest = json.loads(client.get_object("estate-backups", f"{prefix}manifest.json").read())
    assert set(manifest["stores"]) == {"postgres", "mongo", "nats", "minio"}
    assert {p.split("/")[1] for p in uploaded if p.count("/") > 1} == {"postgres", "mongo", "nats", "minio"}


def test_verify_local_from_the_container_holds(docker_client, images, healthy: LocalEstate) -> None:
    # The operator's view of the host: its network, processes and users (the servers run as the host's
    # postgres user), the work dir at its own path, as the user who owns its secrets (root's 0600 files on
    # this machine; the image's default user is 999).
    wd = str(healthy.layout.workdir)
    host_users = {f: {"bind": f, "mode": "ro"} for f in ("/etc/passwd", "/etc/group")}
    status, logs = _run(docker_client, images["harness"], ["estate", "verify", "--env", "local", "--workdir", wd],
                        pid_mode="host", user="0", volumes={wd: {"bind": wd, "mode": "rw"}, **host_users})
    assert status == 0, logs
    assert "0 fail" in logs, logs
