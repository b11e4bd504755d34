"""`docker save` tars of the built images, and their import into a containerd node
(`ctr -n k8s.io images import`, what a kubelet with `imagePullPolicy: Never` runs from)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from estate.errors import EstateError
from estate.local.binaries import Progress


def save(client: docker.DockerClient, name: str, dest: Path, progress: Progress) -> Path:
    """Write ``name`` as a docker-save tar into directory ``dest``; returns the file."""
    try:
        image = client.images.get(name)
    except ImageNotFound:
        raise EstateError(f"image {name} is not built: run `estate image build`") from None
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / (name.rsplit("/", 1)[-1].replace(":", "_") + ".tar")
    partial = out.with_suffix(".partial")
    with partial.open("wb") as f:
        for chunk in image.save(named=name):  # not True: that names the tar after the image's first tag
            f.write(chunk)
    partial.rename(out)
    progress(f"saved {name} to {out} ({out.stat().st_size / 2**20:.0f} MiB)")
    return out


def containerd_import(tar: Path, socket: Path, namespace: str = "k8s.io") -> list[str]:
    """Import a docker-save tar into the containerd at ``socket``; returns the image names it then lists."""
    ctr = shutil.which("ctr")
    if ctr is None:
        raise EstateError("ctr not found: it comes with Debian's containerd (apt-get install containerd)")
    base = [ctr, "--address", str(socket), "--namespace", namespace]
    proc = subprocess.run([*base, "images", "import", str(tar)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EstateError(f"ctr images import {tar.name} failed: {(proc.stderr or proc.stdout).strip()[:300]}")
    listed = subprocess.run([*base, "images", "list", "--quiet"], capture_output=True, text=True, check=True)
    return listed.stdout.split()
