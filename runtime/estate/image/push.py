"""Pushing a built image to a registry with the Docker SDK: tagged under the registry's name when it was
built under another (``estate image build`` names images ghcr.io/the0/… by default), progress per layer."""
from __future__ import annotations

import time

import docker
from docker.errors import APIError, ImageNotFound

from estate.errors import EstateError, first_line
from estate.image.build import REGISTRY, image_name
from estate.local.binaries import Progress


def push(client: docker.DockerClient, which: str, registry: str, tag: str | None, progress: Progress) -> str:
    """Push image ``which`` as ``registry``/<repository>:<tag>; returns the digest the registry reported."""
    name, built = image_name(which, tag, registry), image_name(which, tag, REGISTRY)
    repository, _, image_tag = name.rpartition(":")
    t0, digest, shown = time.monotonic(), "", 0.0
    try:
        try:
            image = client.images.get(name)
        except ImageNotFound:
            try:
                image = client.images.get(built)
            except ImageNotFound:
                raise EstateError(f"image {built} is not built: run `estate image build --only {which}`") from None
            image.tag(repository, image_tag)
            progress(f"tagged {built} as {name}")
        for event in client.images.push(repository, image_tag, stream=True, decode=True):
            if "error" in event:
                raise EstateError(f"push {name} failed: {first_line(event['error'])[:300]}")
            if aux := event.get("aux"):
                digest = aux.get("Digest", digest)
            status = event.get("status", "")
            if status in ("Pushed", "Layer already exists") or time.monotonic() - shown >= 5:
                shown = time.monotonic()
                progress(f"push {name}: {event.get('id', '')} {status} {event.get('progress', '')}".rstrip())
    except APIError as exc:
        raise EstateError(f"push {name} failed: {first_line(exc)[:300]}") from None
    if not digest:
        raise EstateError(f"push {name}: the engine reported no digest")
    progress(f"pushed {name} ({image.attrs['Size'] / 2**20:.0f} MiB) in {time.monotonic() - t0:.0f}s")
    return digest
