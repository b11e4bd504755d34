"""Building the harness and PostgreSQL images with the Docker SDK (legacy builder), progress per step.

The build context is assembled in a temporary directory: the Dockerfile from ``images/<name>/``, for the
harness also the repo's package source, a requirements file with the pins of ``pyproject.toml`` and the
natscli binary built on the host (Go is never built inside an image).
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import docker
from docker.errors import APIError, BuildError

from estate.errors import EstateError, first_line
from estate.image.base import ensure_base
from estate.local.binaries import Progress, tool

REPO = Path(__file__).resolve().parents[3]
IMAGES_DIR = REPO / "images"
REGISTRY = "ghcr.io/the0"
# image -> repository under the registry; the stacks name these (estate:harness.image, estate:postgres.image).
REPOSITORIES = {"harness": "estate", "postgres": "estate-postgres"}
PACKAGE_SOURCE = ("pyproject.toml", "runtime", "infra", "checks", "loadtests")
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def default_tag() -> str:
    return version("estate")


def image_name(which: str, tag: str | None = None, registry: str = REGISTRY) -> str:
    return f"{registry}/{REPOSITORIES[which]}:{tag or default_tag()}"


def extra_ca_certs(directory: Path = EXTRA_CA_DIR) -> str:
    """The PEM text of the host's locally added CA certificates (update-ca-certificates' extra dir):
    what pip inside a build needs to reach the package index through this machine's TLS proxy."""
    return "".join(p.read_text() for p in sorted(directory.rglob("*.crt")) if p.is_file())


# Pinned under the test extra but imported by `estate verify` itself (checks/hygiene.py).
RUNTIME_EXTRAS = ("pytest-testinfra",)


def requirements(pyproject: Path = REPO / "pyproject.toml") -> str:
    """The pinned runtime dependencies of pyproject.toml, one per line."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = [d for d in project["optional-dependencies"]["test"] if d.split("==")[0] in RUNTIME_EXTRAS]
    return "".join(f"{d}\n" for d in [*project["dependencies"], *extras])


def context(which: str, dest: Path) -> Path:
    """Fill ``dest`` with the build context of image ``which``."""
    shutil.copytree(IMAGES_DIR / which, dest, dirs_exist_ok=True)
    if which == "harness":
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        (dest / "src").mkdir()
        for name in PACKAGE_SOURCE:
            src = REPO / name
            (shutil.copytree(src, dest / "src" / name, ignore=ignore) if src.is_dir()
             else shutil.copy2(src, dest / "src" / name))
        (dest / "requirements.txt").write_text(requirements())
        nats = tool("nats")
        if nats is None:
            raise EstateError("natscli is not built: run `estate bootstrap` (it goes into ~/.cache/estate/bin)")
        shutil.copy2(nats, dest / "nats")
    return dest


@dataclass
class Built:
    which: str
    name: str
    id: str
    size: int
    seconds: float
    steps: int
    cached: int


def build(client: docker.DockerClient, which: str, progress: Progress, base: str | None = None,
          tag: str | None = None, registry: str = REGISTRY, no_cache: bool = False) -> Built:
    """Build one image (``harness`` or ``postgres``) and tag it; returns what was built."""
    base_image = ensure_base(client, base, progress)
    name = image_name(which, tag, registry)
    args = {"BASE": base_image}
    if which == "harness" and (certs := extra_ca_certs()):
        args["EXTRA_CA_CERTS"] = certs
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"estate-image-{which}-") as tmp:
        ctx = context(which, Path(tmp))
        try:
            chunks = client.api.build(path=str(ctx), tag=name, buildargs=args, rm=True, forcerm=True,
                                      pull=False, nocache=no_cache, decode=True)
            steps, cached = _follow(chunks, which, progress)
        except (APIError, BuildError) as exc:
            raise EstateError(f"{which} image build failed: {first_line(exc)[:300]}") from None
    image = client.images.get(name)
    built = Built(which, name, image.short_id.split(":")[-1], image.attrs["Size"], time.monotonic() - t0, steps, cached)
    progress(f"{which}: built {name} ({built.size / 2**20:.0f} MiB) in {built.seconds:.0f}s, "
             f"{cached}/{steps} steps from cache")
    return built


def _follow(chunks, which: str, progress: Progress) -> tuple[int, int]:
    """Show each build step as it starts (with how long the previous one took), a cached step as such,
    and at most one output line every 5 s; a build error is one line naming the step."""
    step, total, cached, shown = "?", 0, 0, 0.0
    started, from_cache = time.monotonic(), False
    for chunk in chunks:
        if "error" in chunk:
            raise EstateError(f"{which} image build failed at step {step}/{total}: {chunk['error'].strip()[:300]}")
        for line in ANSI.sub("", chunk.get("stream", "")).splitlines():
            line = line.strip()
            if m := STEP.match(line):
                step, total = m.group(1), int(m.group(2))
                started, from_cache = time.monotonic(), False
                progress(f"{which} step {step}/{total}: {_short(m.group(3))}")
            elif line.startswith("---> Using cache"):
                cached, from_cache = cached + 1, True
                progress(f"{which} step {step}/{total}: cached")
            elif line.startswith("---> ") and not from_cache and not line.startswith("---> Running in"):
                progress(f"{which} step {step}/{total}: done in {time.monotonic() - started:.0f}s")
            elif line and not line.startswith(("---> ", "Removing intermediate", "Successfully")) \
                    and time.monotonic() - shown >= 5:
                shown = time.monotonic()
                progress(f"{which} step {step}/{total}: {line[:140]}")
    return total, cached


def _short(instruction: str) -> str:
    """An instruction on one line, without the certificate text a build argument may carry."""
    return re.sub(r"\s+", " ", instruction)[:110]
