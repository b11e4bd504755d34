"""`estate bench cluster`: the local control plane's cold build (as recorded when it happened), its
start-up fresh and warm, and each stack's apply, Ready, update and teardown on it."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from estate.cluster import build, e2e
from estate.cluster.control_plane import Cluster


def run_cluster_bench(stacks: list[str], base_port: int, out: Console) -> None:
    progress = lambda msg: out.print(f"[dim]· {msg}[/dim]", highlight=False)  # noqa: E731
    binaries = build.ensure_all(progress)  # builds (and records the time) if not cached yet
    builds = Table(title=f"cold builds, as recorded when they ran ({build.BUILD_TIMES})")
    for col in ("module", "min", "go -p", "cores", "when (UTC)"):
        builds.add_column(col)
    for module, t in build.build_times().items():
        builds.add_row(module, f"{t['seconds'] / 60:.1f}", str(t["jobs"]), str(t["cores"]), t["at"][:16].replace("T", " "))
    out.print(builds)

    root = Path(tempfile.mkdtemp(prefix="estate-bench-cluster-", dir="/tmp"))
    cluster = Cluster(root / "cluster", base_port)
    classes = e2e.storage_classes()
    try:
        start = Table(title="cluster start (binaries cached)")
        for col in ("case", "seconds", "what"):
            start.add_column(col)
        t0 = time.monotonic()
        cluster.up(progress, lambda: classes, binaries=binaries)
        start.add_row("fresh", f"{time.monotonic() - t0:.1f}", "PKI, etcd, API server, controllers, kwok, 4 nodes Ready")
        cluster.down()
        t0 = time.monotonic()
        cluster.up(progress, lambda: classes, binaries=binaries)
        start.add_row("warm", f"{time.monotonic() - t0:.1f}", "data present: processes started, nodes Ready")
        out.print(start)

        per_stack = Table(title="per stack, seconds (ready: workloads Ready and claims Bound; delete: namespace and StorageClasses gone)")
        for col in ("stack", "objs", "render", "apply", "ready", "update", "delete", "total", "result"):
            per_stack.add_column(col)
        for stack in stacks:
            r = e2e.StackRun(stack, cluster.kubeconfig, progress).run()
            s = r.seconds
            per_stack.add_row(stack, str(r.objects), *(f"{s.get(k, 0):.1f}" for k in ("render", "apply", "ready", "update", "teardown", "total")),
                              "ok" if r.ok else f"FAIL: {r.failures[0][:80]}")
        out.print(per_stack)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
