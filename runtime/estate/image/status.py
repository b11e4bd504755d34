"""Which images a rendered stack needs, whether a local Docker engine has each (built or pulled) and
whether its registry serves it (pushed). Never raises: what cannot be known is said plainly."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from requests.exceptions import RequestException

from estate.errors import first_line

NO_ENGINE = "no engine"


@dataclass(frozen=True)
class ImageState:
    image: str
    built: str   # built | not built | no engine
    pushed: str  # pushed | not pushed | not visible (…) | registry unreachable (…) | no engine

    @property
    def missing(self) -> bool:
        return self.built != "built" or self.pushed != "pushed"


def needed(manifests: Iterable[dict[str, Any]]) -> list[str]:
    """Every image a container or initContainer names, anywhere in the objects (pod templates of any kind)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers") and isinstance(value, list):
                    found.update(c["image"] for c in value if isinstance(c, dict) and "image" in c)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for manifest in manifests:
        walk(manifest)
    return sorted(found)


def registry_of(image: str) -> str:
    """The registry host of an image reference, as Docker reads it (no dot, colon or localhost: Docker Hub)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else "docker.io"


def _pushed(client: docker.DockerClient, image: str) -> tuple[str, bool]:
    """The registry's answer for ``image``, and whether the registry answered at all."""
    try:
        client.images.get_registry_data(image)
        return "pushed", True
    except NotFound:
        return "not pushed", True
    except DockerException as exc:
        text = first_line(getattr(exc, "explanation", None) or exc)
        if "manifest unknown" in text or "not found" in text:
            return "not pushed", True
        if "unauthorized" in text or "denied" in text:
            return "not visible (unauthorized: not pushed, or private)", True
        return f"registry unreachable ({text[:120]})", False
    except RequestException as exc:
        return f"registry unreachable ({first_line(exc)[:120]})", False


def states(images: Iterable[str], client: docker.DockerClient | None) -> list[ImageState]:
    """Each image's state on ``client``'s engine (None: no engine answered); a registry that did not
    answer is asked once."""
    result, unreachable = [], {}
    for image in images:
        if client is None:
            result.append(ImageState(image, NO_ENGINE, NO_ENGINE))
            continue
        try:
            client.images.get(image)
            built = "built"
        except ImageNotFound:
            built = "not built"
        except (DockerException, RequestException) as exc:
            built = f"unknown ({first_line(exc)[:120]})"
        host = registry_of(image)
        if host in unreachable:
            pushed = unreachable[host]
        else:
            pushed, answered = _pushed(client, image)
            if not answered:
                unreachable[host] = f"registry unreachable ({host}: as above)"
        result.append(ImageState(image, built, pushed))
    return result


def summary(found: list[ImageState]) -> str:
    """One line: how many images, by built state and by pushed state."""
    def counts(values: Iterable[str]) -> str:
        return ", ".join(f"{n} {what}" for what, n in Counter(v.split(" (")[0] for v in values).most_common())
    return (f"{len(found)} images: {counts(s.built for s in found)}; {counts(s.pushed for s in found)}; "
            f"{sum(s.missing for s in found)} not built or not pushed")
