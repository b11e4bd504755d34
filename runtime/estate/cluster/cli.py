"""`estate cluster …`: the local Kubernetes control plane and the stacks' end-to-end run on it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from estate.errors import EstateError

cluster_app = typer.Typer(no_args_is_help=True, help="A local Kubernetes control plane (kwok nodes) and the stacks applied to it.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ClusterDirOpt = Annotated[Path, typer.Option("--workdir", help="where the cluster keeps its data", envvar="ESTATE_CLUSTER_WORKDIR")]
DEFAULT_DIR = Path(".estate/cluster")


def _progress(msg: str) -> None:
    err.print(f"[dim]· {msg}[/dim]", highlight=False)


def _cluster(workdir: Path, base_port: int | None = None):
    from estate.cluster.control_plane import Cluster

    return Cluster(workdir, base_port)


@cluster_app.command("build")
def build_() -> None:
    """Build (once) and show every binary the cluster runs."""
    from estate.cluster import build

    for name, path in build.ensure_all(_progress).items():
        out.print(f"{name:<24}{path}", highlight=False)


@cluster_app.command("up")
def up(workdir: ClusterDirOpt = DEFAULT_DIR,
       base_port: Annotated[int | None, typer.Option("--base-port", help="ports base+1 … base+46 (default 25400)")] = None,
       nodes: Annotated[int, typer.Option("--nodes", min=1, max=100, help="kwok fake nodes")] = 4) -> None:
    """Start the control plane on 127.0.0.1 (idempotent) and wait for its kwok nodes to be Ready."""
    from estate.cluster.e2e import storage_classes

    cluster = _cluster(workdir, base_port)
    started, seconds = cluster.up(_progress, storage_classes, nodes)
    if started:
        out.print(f"started {', '.join(started)} in {seconds:.1f}s", highlight=False)
    else:
        cluster.ensure_nodes(nodes, _progress)
        out.print("already running", highlight=False)
    out.print(f"API server {cluster.server}; export KUBECONFIG={cluster.kubeconfig}", highlight=False)


@cluster_app.command("status")
def status(workdir: ClusterDirOpt = DEFAULT_DIR) -> None:
    """Each process (pid, port) and each kwok node (Ready, pods)."""
    cluster = _cluster(workdir)
    if not cluster.workdir.exists():
        raise EstateError(f"no cluster in {cluster.workdir}: run `estate cluster up`")
    t = Table(title=f"cluster in {cluster.workdir}")
    for col in ("process", "state", "pid", "port"):
        t.add_column(col)
    states = cluster.status()
    for s in states:
        t.add_row(s.name, "[green]running[/green]" if s.pid else "[red]down[/red]", str(s.pid or ""), str(s.port))
    out.print(t)
    if next(s for s in states if s.name == "kube-apiserver").pid:
        n = Table(title="kwok nodes")
        for col in ("node", "Ready", "pods"):
            n.add_column(col)
        for node in cluster.nodes():
            n.add_row(node.name, "[green]True[/green]" if node.ready else "[red]False[/red]", str(node.pods))
        out.print(n)
        out.print(f"export KUBECONFIG={cluster.kubeconfig}", highlight=False)


@cluster_app.command("down")
def down(workdir: ClusterDirOpt = DEFAULT_DIR) -> None:
    """Stop every process; the cluster's data stays."""
    stopped = _cluster(workdir).down()
    out.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running", highlight=False)


@cluster_app.command("destroy")
def destroy(workdir: ClusterDirOpt = DEFAULT_DIR,
            yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Stop the cluster and delete its work dir (etcd data, keys, kubeconfigs)."""
    cluster = _cluster(workdir)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"delete {cluster.workdir}?", abort=True)
    cluster.destroy()
    out.print(f"destroyed {cluster.workdir}", highlight=False)


@cluster_app.command("e2e")
def e2e(workdir: ClusterDirOpt = DEFAULT_DIR,
        stack: Annotated[list[str] | None, typer.Option("--stack", "-s", help="repeatable (default: dev, staging, prod)")] = None) -> None:
    """Apply each stack to the running cluster: accepted, Ready, Bound, Jobs Complete, idempotent re-apply,
    in-place update, refused immutable change, clean delete; a summary table."""
    from estate.cluster.e2e import STACKS, run_e2e, summary_table

    cluster = _cluster(workdir)
    down = [s.name for s in cluster.status() if not s.pid]
    if down:
        raise EstateError(f"the cluster in {cluster.workdir} is not running ({', '.join(down)} down): run `estate cluster up`")
    results = run_e2e(cluster.kubeconfig, list(stack or STACKS), _progress)
    out.print(summary_table(results))
    for r in results:
        if r.immutable:
            out.print(f"{r.stack}: refused as expected — {r.immutable}", highlight=False)
        for failure in r.failures:
            err.print(f"[red]{r.stack}[/red]: {failure}", highlight=False)
    failed = [r.stack for r in results if not r.ok]
    if failed:
        raise EstateError(f"e2e failed for {', '.join(failed)}")
