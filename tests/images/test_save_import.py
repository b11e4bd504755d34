"""`estate image save` tars import into containerd as a kubelet node runs them (`ctr -n k8s.io images
import`; pods with imagePullPolicy: Never): here the containerd the private Docker engine runs."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from estate.image import engine
from estate.image.save import containerd_import, save


@pytest.mark.parametrize("which", ["harness", "postgres"])
def test_saved_tar_imports_into_containerd(docker_client, images: dict, which: str, tmp_path: Path) -> None:
    socket = engine.containerd_socket()
    if not socket.exists():
        pytest.fail(f"no containerd socket at {socket}: the private engine (estate image engine up) runs one", pytrace=False)
    name = images[which]
    other = "127.0.0.1:5999/estate-test/other-name:1"  # a second tag, as `estate image push` adds one
    docker_client.images.get(name).tag(other)
    try:
        tar = save(docker_client, name, tmp_path, print)
    finally:
        docker_client.images.remove(other)
    try:
        listed = containerd_import(tar, socket)
        assert f"docker.io/{name}" in listed or name in listed, listed
    finally:
        subprocess.run(["ctr", "--address", str(socket), "-n", "k8s.io", "images", "rm", name, f"docker.io/{name}"],
                       capture_output=True)
