"""Which Docker engine to talk to, and a private one (`estate image engine up|down`).

The private engine is Debian's `dockerd` with its own data root, exec root and Unix socket under
``ESTATE_DOCKER_ROOT`` (default /tmp/estate-docker), so nothing depends on a system service and it
never touches another engine's images. ``DOCKER_HOST`` wins when set; then the private socket; then
the system socket.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException

from estate.errors import EstateError, first_line

ROOT = Path(os.environ.get("ESTATE_DOCKER_ROOT", "/tmp/estate-docker"))
SOCKET = ROOT / "docker.sock"
PIDFILE = ROOT / "dockerd.pid"
LOG = ROOT / "dockerd.log"
SYSTEM_SOCKET = Path("/var/run/docker.sock")
START_HINT = "start one with `estate image engine up` (needs Debian's docker.io: `apt-get install docker.io`)"


def address() -> str:
    """The engine address this process will use."""
    if host := os.environ.get("DOCKER_HOST"):
        return host
    if SOCKET.exists() or not SYSTEM_SOCKET.exists():
        return f"unix://{SOCKET}"
    return f"unix://{SYSTEM_SOCKET}"


def connect(timeout: int = 600) -> docker.DockerClient:
    """A client of a running engine, or a one-line error saying how to start one."""
    where = address()
    try:
        client = docker.DockerClient(base_url=where, timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise EstateError(f"no Docker engine at {where} ({first_line(exc)[:120]}): {START_HINT}") from None
    return client


def reachable(timeout: int = 10) -> tuple[str, docker.DockerClient] | None:
    """The first engine that answers — ``DOCKER_HOST`` when set, the private engine, the system socket —
    and a client of it; None when none does."""
    candidates = [os.environ.get("DOCKER_HOST"), f"unix://{SOCKET}", f"unix://{SYSTEM_SOCKET}"]
    for where in dict.fromkeys(c for c in candidates if c):
        try:
            client = docker.DockerClient(base_url=where, timeout=timeout)
            client.ping()
            return where, client
        except (DockerException, RequestException):
            continue
    return None


def containerd_socket() -> Path:
    """The socket of the containerd the private engine runs (images imported into it stay apart from
    Docker's own namespace)."""
    return ROOT / "exec" / "containerd" / "containerd.sock"


def running() -> bool:
    try:
        docker.DockerClient(base_url=f"unix://{SOCKET}", timeout=5).ping()
        return True
    except DockerException:
        return False


def up(progress=lambda msg: None, wait: float = 60) -> str:
    """Start the private engine unless it already answers; returns its address."""
    if running():
        return f"unix://{SOCKET}"
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EstateError("dockerd not found: apt-get install docker.io (scripts/docker-engine.sh does it)")
    if os.geteuid() != 0:
        raise EstateError("the private Docker engine needs root (dockerd manages cgroups, mounts and iptables)")
    ROOT.mkdir(parents=True, exist_ok=True, mode=0o700)
    SOCKET.unlink(missing_ok=True)
    argv = [dockerd, "--data-root", str(ROOT / "data"), "--exec-root", str(ROOT / "exec"),
            "--host", f"unix://{SOCKET}", "--pidfile", str(PIDFILE)]
    progress(" ".join(argv))
    with open(LOG, "ab") as log:
        subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait:
        if running():
            progress(f"engine up in {time.monotonic() - t0:.1f}s at unix://{SOCKET}")
            return f"unix://{SOCKET}"
        time.sleep(0.3)
    tail = LOG.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise EstateError(f"dockerd did not answer within {wait:.0f}s: {tail[0][:200]} (log {LOG})")


def down(wait: float = 30) -> bool:
    """Stop the private engine (and the containerd it started); waits until it has exited."""
    try:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    raise EstateError(f"dockerd (pid {pid}) still running {wait:.0f}s after SIGTERM")
