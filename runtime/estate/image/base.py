"""The base image: pulled when a registry serves it, else built once from Debian packages
(debootstrap --variant=minbase from the machine's configured mirror, then `docker import`).

The root filesystem tar is cached in ``~/.cache/estate/images`` so that a fresh engine imports it in
seconds instead of bootstrapping again.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from estate.errors import EstateError, first_line
from estate.local.binaries import Progress

DEFAULT_BASE = "debian:bookworm-slim"
SUITE = "bookworm"
LOCAL_BASE = f"estate-base/debian:{SUITE}-minbase"
CACHE = Path(os.environ.get("ESTATE_CACHE_DIR", Path.home() / ".cache" / "estate")) / "images"
FALLBACK_MIRROR = "http://deb.debian.org/debian"


def mirrors(sources: list[Path] | None = None) -> tuple[str, str | None]:
    """The Debian mirror and security mirror apt on this machine is configured with."""
    files = sources if sources is not None else [Path("/etc/apt/sources.list"),
                                                 *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    main = security = None
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.M)
        for uri in uris:
            if uri.rstrip("/").endswith("/debian-security"):
                security = security or uri.rstrip("/")
            elif uri.rstrip("/").endswith("/debian"):
                main = main or uri.rstrip("/")
    return main or FALLBACK_MIRROR, security


def present(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
        return True
    except ImageNotFound:
        return False


def ensure_base(client: docker.DockerClient, base: str | None, progress: Progress) -> str:
    """The image to build FROM: ``base`` when present or pullable, else (for the default) a Debian base
    bootstrapped from packages. Returns the name to pass as the BASE build argument."""
    wanted = base or DEFAULT_BASE
    if present(client, wanted):
        return wanted
    if base is None and present(client, LOCAL_BASE):
        progress(f"{DEFAULT_BASE} is not on this engine; using {LOCAL_BASE} built from Debian packages earlier")
        return LOCAL_BASE
    progress(f"pulling {wanted}")
    try:
        client.images.pull(wanted)
        return wanted
    except APIError as exc:
        reason = first_line(exc)[:160]
    if base is not None and base != LOCAL_BASE:
        raise EstateError(f"cannot pull base image {base} ({reason}); leave out --base to build a Debian base from packages")
    progress(f"cannot pull {wanted} ({reason}); using a Debian {SUITE} base built from packages")
    if not present(client, LOCAL_BASE):
        import_base(client, rootfs_tar(progress), progress)
    return LOCAL_BASE


def rootfs_tar(progress: Progress, rebuild: bool = False) -> Path:
    """The cached minbase root filesystem tar, bootstrapped on first use (about 2 minutes)."""
    tar = CACHE / f"debian-{SUITE}-minbase.tar"
    if tar.exists() and not rebuild:
        return tar
    if os.geteuid() != 0:
        raise EstateError("building the Debian base needs root (debootstrap); or pass --base with a pullable image")
    mirror, security = mirrors()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="estate-rootfs-", dir=CACHE) as tmp:
        root = Path(tmp) / "root"
        _stream(["debootstrap", "--variant=minbase", SUITE, str(root), mirror], "debootstrap", progress)
        lines = [f"deb {mirror} {SUITE} main", f"deb {mirror} {SUITE}-updates main"]
        if security:
            lines.append(f"deb {security} {SUITE}-security main")
        (root / "etc/apt/sources.list").write_text("\n".join(lines) + "\n")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            subprocess.run(["find", str(root / junk), "-type", "f", "-delete"], check=False)
        partial = tar.with_suffix(".partial")
        _stream(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], "tar rootfs", progress)
        partial.rename(tar)
    progress(f"cached {tar} ({tar.stat().st_size / 2**20:.0f} MiB)")
    return tar


def import_base(client: docker.DockerClient, tar: Path, progress: Progress) -> None:
    repo, tag = LOCAL_BASE.rsplit(":", 1)
    t0 = time.monotonic()
    progress(f"docker import {tar.name} as {LOCAL_BASE}")
    client.api.import_image_from_file(str(tar), repository=repo, tag=tag, changes=[
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 'CMD ["bash"]'])
    progress(f"imported {LOCAL_BASE} in {time.monotonic() - t0:.0f}s")


def _stream(argv: list[str], what: str, progress: Progress) -> None:
    """Run a command, showing its output at most every 3 s; a failure is one line."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    shown, last = 0.0, ""
    for line in proc.stdout:
        last = line.strip() or last
        if time.monotonic() - shown >= 3:
            shown = time.monotonic()
            progress(f"{what}: {last[:140]}")
    if proc.wait() != 0:
        raise EstateError(f"{what} failed (exit {proc.returncode}): {last[:200]}")
