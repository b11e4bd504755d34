"""`estate image …`: build, save and import the images, and run a private Docker engine."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from estate.image import engine
from estate.image.build import REGISTRY, REPOSITORIES, image_name

image_app = typer.Typer(no_args_is_help=True, help="Container images: the harness and PostgreSQL with pgBackRest.")
engine_app = typer.Typer(no_args_is_help=True, help="A private Docker engine (own data root and socket under /tmp).")
image_app.add_typer(engine_app, name="engine")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Which = Literal["harness", "postgres"]
OnlyOpt = Annotated[Which | None, typer.Option("--only", help="one image: harness or postgres (default: both)")]
TagOpt = Annotated[str | None, typer.Option("--tag", help="image tag (default: the estate package version)")]
RegistryOpt = Annotated[str, typer.Option("--registry", help="registry and owner the image names start with")]


def _progress(msg: str) -> None:
    err.print(f"[dim]· {msg}[/dim]", highlight=False)


def _which(only: str | None) -> list[str]:
    return [only] if only else list(REPOSITORIES)


@image_app.command("build")
def build_cmd(
    only: OnlyOpt = None,
    base: Annotated[str | None, typer.Option("--base", help="base image (default debian:bookworm-slim; when it cannot be pulled, a Debian base built from packages)")] = None,
    tag: TagOpt = None,
    registry: RegistryOpt = REGISTRY,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="rebuild every step")] = False,
) -> None:
    """Build the harness image and the PostgreSQL image (a base from Debian packages when none can be pulled)."""
    from estate.image.build import build

    client = engine.connect()
    for which in _which(only):
        built = build(client, which, _progress, base=base, tag=tag, registry=registry, no_cache=no_cache)
        out.print(f"{built.name}  {built.id}  {built.size / 2**20:.0f} MiB  {built.seconds:.0f}s", highlight=False)


@image_app.command("save")
def save_cmd(
    only: OnlyOpt = None,
    tag: TagOpt = None,
    registry: RegistryOpt = REGISTRY,
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the tars")] = Path("images/dist"),
    containerd: Annotated[Path | None, typer.Option("--containerd", help="also import into the containerd at this socket (namespace k8s.io)")] = None,
) -> None:
    """`docker save` tars of the built images, for `ctr -n k8s.io images import` on a node."""
    from estate.image.save import containerd_import, save

    client = engine.connect()
    for which in _which(only):
        tar = save(client, image_name(which, tag, registry), out_dir, _progress)
        out.print(str(tar), highlight=False)
        if containerd is not None:
            containerd_import(tar, containerd)
            out.print(f"imported into {containerd} (namespace k8s.io)", highlight=False)


@image_app.command("push")
def push_cmd(
    registry: Annotated[str, typer.Option("--registry", help="registry and owner to push to, e.g. 127.0.0.1:5000 or ghcr.io/you")],
    only: OnlyOpt = None,
    tag: TagOpt = None,
) -> None:
    """Push the built images to a registry (tagged under its name first when built under another)."""
    from estate.image.push import push

    client = engine.connect()
    for which in _which(only):
        digest = push(client, which, registry, tag, _progress)
        out.print(f"{image_name(which, tag, registry)}@{digest}", highlight=False)


@engine_app.command("up")
def engine_up() -> None:
    """Start the private Docker engine (idempotent); prints the DOCKER_HOST to use."""
    out.print(f"DOCKER_HOST={engine.up(_progress)}", highlight=False)


@engine_app.command("down")
def engine_down() -> None:
    """Stop the private Docker engine (images stay in its data root)."""
    out.print("stopped" if engine.down() else "not running", highlight=False)
