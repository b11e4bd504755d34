"""Building the local control plane's binaries once into the build cache, with progress.

``go install module/cmd@version`` refuses a module whose go.mod has ``replace`` lines, and
k8s.io/kubernetes replaces its ~31 staging modules with local paths. So each upstream module is
built through a *wrapper* module of our own (the main module): its go.mod requires the upstream
module, repeats upstream's requirements, turns every local-path replace into the published version
of that module, keeps the other replaces; its ``cmd/<binary>/`` holds upstream's own ``main``
file(s). The wrapper's go.mod is generated at build time from upstream's go.mod in the module cache.

Binaries land in ``~/.cache/estate/bin/<module>-<version>/`` (shared by every clone on the
machine); how long each cold build took is recorded in ``~/.cache/estate/build-times.json``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from estate.errors import EstateError
from estate.local.binaries import (
    CACHE_BIN, ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION, Progress, _run, go_binary, go_build, go_module_dir,
)

BUILD_TIMES = CACHE_BIN.parent / "build-times.json"
KUBE_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@dataclass(frozen=True)
class Wrapper:
    """One upstream module built through a wrapper module: which commands, with which flags."""

    name: str  # the cache directory is <name>-<version>
    module: str
    version: str
    local_version: str  # the version a local-path replace (./staging/src/…) stands for where upstream requires v0.0.0
    commands: dict[str, str]  # binary -> upstream package dir to copy main files from, or "" for `main_go`
    ldflags: tuple[str, ...] = ()
    main_go: dict[str, str] = field(default_factory=dict)  # binary -> a main.go of our own

    @property
    def cache_dir(self) -> Path:
        return CACHE_BIN / f"{self.name}-{self.version}"


def _kubernetes() -> Wrapper:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    stamp = "k8s.io/component-base/version"
    return Wrapper(
        "kubernetes", "k8s.io/kubernetes", KUBERNETES_VERSION, "v0." + KUBERNETES_VERSION.split(".", 1)[1],
        {b: f"cmd/{b}" for b in KUBE_BINARIES},
        ldflags=(f"-X {stamp}.gitVersion={KUBERNETES_VERSION}", f"-X {stamp}.gitMajor={major}",
                 f"-X {stamp}.gitMinor={minor}", f"-X {stamp}.gitTreeState=clean"),
    )


def _kwok() -> Wrapper:
    return Wrapper("kwok", "sigs.k8s.io/kwok", KWOK_VERSION, KWOK_VERSION, {"kwok": "cmd/kwok"})


def _etcd() -> Wrapper:
    main = ('package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
            "func main() { etcdmain.Main(os.Args) }\n")
    return Wrapper("etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION, ETCD_VERSION, {"etcd": ""}, main_go={"etcd": main})


def wrapper_go_mod(upstream: dict, wrapper: Wrapper, wrapper_module: str = "estate.local/build") -> str:
    """The wrapper's go.mod from upstream's (``go mod edit -json`` output)."""
    lines = [f"module {wrapper_module}", ""]
    if go := upstream.get("Go"):
        lines += [f"go {go}", ""]
    for godebug in upstream.get("Godebug") or []:
        lines.append(f"godebug {godebug['Key']}={godebug['Value']}")
    lines += ["", "require (", f"\t{wrapper.module} {wrapper.version}"]
    lines += [f"\t{r['Path']} {r['Version']}" for r in upstream.get("Require") or []]
    lines.append(")")
    replaces = []
    required = {r["Path"]: r["Version"] for r in upstream.get("Require") or []}
    for r in upstream.get("Replace") or []:
        old, new = r["Old"], r["New"]
        old_s = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
        if new.get("Version"):
            replaces.append(f"\t{old_s} => {new['Path']} {new['Version']}")
        elif new["Path"].startswith((".", "/")):  # a local path inside upstream's repository
            if old["Path"] in required:  # others only fence modules off (etcd's ./FORBIDDEN_DEPENDENCY)
                version = required[old["Path"]]  # etcd requires its siblings' real versions; kubernetes says v0.0.0
                replaces.append(f"\t{old_s} => {old['Path']} {wrapper.local_version if version == 'v0.0.0' else version}")
        else:
            raise EstateError(f"{wrapper.module}: cannot translate replace {old_s} => {new['Path']}")
    if replaces:
        lines += ["", "replace (", *replaces, ")"]
    return "\n".join(lines) + "\n"


def _go_env() -> dict[str, str]:
    return {"GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0"}


def build_jobs() -> int:
    """Parallel compile jobs: ESTATE_GO_JOBS, else half the cores (the machine is shared)."""
    return int(os.environ.get("ESTATE_GO_JOBS", max(1, (os.cpu_count() or 2) // 2)))


def with_heartbeat(run: Callable[[Progress], None], what: str, progress: Progress, every: float = 30.0) -> None:
    """Call ``run(progress)``; whenever it has been silent for ``every`` seconds (the linker of a
    100 MiB binary says nothing for minutes), say that it is still at work and for how long."""
    last, started, done = [time.monotonic()], time.monotonic(), threading.Event()

    def tick(msg: str) -> None:
        last[0] = time.monotonic()
        progress(msg)

    def beat() -> None:
        while not done.wait(min(every, 5.0)):
            if time.monotonic() - last[0] >= every:
                tick(f"{what}: still building ({time.monotonic() - started:.0f} s; linking or a large package)")

    threading.Thread(target=beat, daemon=True).start()
    try:
        run(tick)
    finally:
        done.set()


def _record_build_time(key: str, seconds: float, jobs: int) -> None:
    times = json.loads(BUILD_TIMES.read_text()) if BUILD_TIMES.exists() else {}
    times[key] = {"seconds": round(seconds, 1), "jobs": jobs, "cores": os.cpu_count(),
                  "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    BUILD_TIMES.parent.mkdir(parents=True, exist_ok=True)
    BUILD_TIMES.write_text(json.dumps(times, indent=2) + "\n")


def build_times() -> dict:
    """Recorded cold builds: ``{"k8s.io/kubernetes@v1.33.13": {"seconds": …, "jobs": …}}``."""
    return json.loads(BUILD_TIMES.read_text()) if BUILD_TIMES.exists() else {}


def build_wrapper(wrapper: Wrapper, progress: Progress) -> Path:
    """Build every command of ``wrapper`` into its cache dir (unless all are there); returns the dir."""
    if all((wrapper.cache_dir / b).exists() for b in wrapper.commands):
        return wrapper.cache_dir
    go, env, jobs = go_binary(), _go_env(), build_jobs()
    name = f"{wrapper.module}@{wrapper.version}"
    started = time.monotonic()
    progress(f"building {', '.join(wrapper.commands)} from {name} (first build takes tens of minutes; "
             f"-p {jobs}; cached in {wrapper.cache_dir})")
    CACHE_BIN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="estate-wrapper-", dir=CACHE_BIN.parent) as tmp:
        source = go_module_dir(go, wrapper.module, wrapper.version, progress, env)
        upstream = json.loads(subprocess.run([go, "mod", "edit", "-json", str(source / "go.mod")],
                                             capture_output=True, text=True, check=True).stdout)
        Path(tmp, "go.mod").write_text(wrapper_go_mod(upstream, wrapper))
        for binary, src in wrapper.commands.items():
            dst = Path(tmp, "cmd", binary)
            dst.mkdir(parents=True)
            if src:
                for f in Path(source, src).glob("*.go"):
                    if not f.name.endswith("_test.go"):
                        (dst / f.name).write_text(f.read_text())
            else:
                (dst / "main.go").write_text(wrapper.main_go[binary])
        _run([go, "mod", "tidy"], f"go mod tidy ({name})", progress, env=env, cwd=tmp)
        out = Path(tmp, "out")
        out.mkdir()
        args = ["-p", str(jobs), "-trimpath", "-ldflags", " ".join(("-s", "-w", *wrapper.ldflags)), "-o", f"{out}/", "./cmd/..."]
        what = f"go build {name}"
        with_heartbeat(lambda tick: go_build(go, args, what, tick, Path(tmp), env), what, progress)
        missing = [b for b in wrapper.commands if not (out / b).exists()]
        if missing:
            raise EstateError(f"go build {name} finished without {', '.join(missing)}")
        if wrapper.cache_dir.exists():
            shutil.rmtree(wrapper.cache_dir)
        out.rename(wrapper.cache_dir)
    seconds = time.monotonic() - started
    _record_build_time(name, seconds, jobs)
    progress(f"built {name} in {seconds / 60:.1f} min")
    return wrapper.cache_dir


def kubernetes_binaries(progress: Progress) -> dict[str, str]:
    d = build_wrapper(_kubernetes(), progress)
    return {b: str(d / b) for b in KUBE_BINARIES}


def kwok_binary(progress: Progress) -> str:
    return str(build_wrapper(_kwok(), progress) / "kwok")


def kwok_module_dir(progress: Progress) -> Path:
    """kwok's module source in the module cache (its stage files live under kustomize/stage)."""
    return go_module_dir(go_binary(), "sigs.k8s.io/kwok", KWOK_VERSION, progress, _go_env())


def etcd_binary(progress: Progress) -> str:
    """Debian's etcd-server (installed with apt-get when we are root), else etcd built from source."""
    for candidate in (shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and Path(candidate).exists():
            return candidate
    if os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            _run(["apt-get", "install", "-y", "-q", "etcd-server"], "apt-get install etcd-server", progress,
                 env={"DEBIAN_FRONTEND": "noninteractive"})
            if Path("/usr/bin/etcd").exists():
                return "/usr/bin/etcd"
        except EstateError as exc:
            progress(f"apt-get could not install etcd-server ({exc}); building etcd {ETCD_VERSION}")
    return str(build_wrapper(_etcd(), progress) / "etcd")


def ensure_all(progress: Progress) -> dict[str, str]:
    """Every binary the cluster runs: {name: path}."""
    return {**kubernetes_binaries(progress), "etcd": etcd_binary(progress), "kwok": kwok_binary(progress)}
