"""`estate image push` to a real registry (CNCF Distribution, built from the Go module proxy into
~/.cache/estate/bin) on 127.0.0.1, which the engine speaks plain HTTP to (127.0.0.0/8 is an insecure
registry by default): the registry then serves the manifest and every layer, `estate render`'s report
says "pushed", and the image pulls back as the same image."""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
import yaml

from estate.image.build import REPOSITORIES, default_tag, image_name
from estate.image.status import states
from estate.local.binaries import ensure_go_tool
from estate.local.process import free_port

MANIFESTS = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry on 127.0.0.1 storing into a temporary directory; its address."""
    binary = ensure_go_tool("registry", lambda msg: print(f"[registry] {msg}"))
    root: Path = tmp_path_factory.mktemp("registry")
    address = f"127.0.0.1:{free_port()}"
    config = root / "config.yml"
    config.write_text(yaml.safe_dump({"version": 0.1, "log": {"level": "warn"}, "http": {"addr": address},
                                      "storage": {"filesystem": {"rootdirectory": str(root / "data")}}}))
    with open(root / "registry.log", "wb") as log:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://{address}/v2/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (root / "registry.log").read_text()
            time.sleep(0.2)
        yield address
    finally:
        proc.terminate()
        proc.wait(10)


def _estate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estate", *args], capture_output=True, text=True, timeout=900)


def test_push_then_pull_back(docker_client: docker.DockerClient, images: dict[str, str], registry: str) -> None:
    # The PostgreSQL image (433 MiB; the harness's 933 MiB would only take longer the same way).
    proc = _estate("image", "push", "--only", "postgres", "--registry", registry)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    name = image_name("postgres", registry=registry)
    pushed, digest = proc.stdout.strip().split("@")
    assert pushed == name
    repo, tag = REPOSITORIES["postgres"], default_tag()
    # the registry itself: the tag, the manifest under the digest the engine reported, every layer stored
    assert requests.get(f"http://{registry}/v2/{repo}/tags/list", timeout=10).json()["tags"] == [tag]
    manifest = requests.get(f"http://{registry}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFESTS}, timeout=10)
    assert manifest.headers["Docker-Content-Digest"] == digest
    blobs = [manifest.json()["config"], *manifest.json()["layers"]]
    assert all(requests.head(f"http://{registry}/v2/{repo}/blobs/{b['digest']}", timeout=10).status_code == 200
               for b in blobs)
    assert states([name], docker_client)[0].pushed == "pushed"
    # pulled back under the registry's name (the local tag removed first): the image that was built
    docker_client.images.remove(name)
    assert docker_client.images.pull(name).id == docker_client.images.get(images["postgres"]).id
    # pushing again changes nothing: the same digest
    again = _estate("image", "push", "--only", "postgres", "--registry", registry)
    docker_client.images.remove(name)  # the engine as the other image tests expect it: built tags only
    assert again.returncode == 0 and again.stdout.strip() == proc.stdout.strip(), again.stdout + again.stderr


def test_push_to_nothing_is_one_line(docker_client: docker.DockerClient, images: dict[str, str]) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    proc = _estate("image", "push", "--only", "postgres", "--registry", nowhere)
    docker_client.images.remove(image_name("postgres", registry=nowhere))  # the tag push made before it failed
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("·")]
    assert len(errors) == 1 and f"push {nowhere}/" in errors[0] and "failed" in errors[0], proc.stderr
    proc = _estate("image", "push", "--only", "postgres", "--registry", "Not A/Registry")
    assert proc.returncode == 1 and "failed" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
