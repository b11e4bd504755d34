"""The images on a real Docker engine: the private engine is started when none answers (Debian's
docker.io must be installed: scripts/docker-engine.sh does both). Without an engine these tests FAIL
with the reason; ESTATE_IMAGE_TESTS=skip opts out explicitly (and the skip is reported)."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

import docker
import pytest
import testinfra

from estate.errors import EstateError
from estate.image import engine
from estate.image.build import build, image_name

OPT_OUT = "ESTATE_IMAGE_TESTS"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/images/" in str(item.fspath):
            item.add_marker(pytest.mark.images)


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    if os.environ.get(OPT_OUT) == "skip":
        pytest.skip(f"{OPT_OUT}=skip: the image tests were opted out")
    try:
        if "DOCKER_HOST" not in os.environ:
            os.environ["DOCKER_HOST"] = engine.up()  # the docker CLI (testinfra) uses it too
        return engine.connect()
    except EstateError as exc:
        pytest.fail(f"no Docker engine for the image tests: {exc} — run scripts/docker-engine.sh, "
                    f"or set {OPT_OUT}=skip to leave these tests out", pytrace=False)


@pytest.fixture(scope="session")
def images(docker_client: docker.DockerClient) -> dict[str, str]:
    """Both images built (from the layer cache after the first time), by name."""
    t0 = time.monotonic()
    built = {w: build(docker_client, w, lambda msg: print(f"[image build] {msg}")).name for w in ("harness", "postgres")}
    print(f"[image build] both images ready in {time.monotonic() - t0:.0f}s")
    assert built == {w: image_name(w) for w in built}
    return built


@pytest.fixture(scope="session")
def running(docker_client: docker.DockerClient, images: dict[str, str]) -> Iterator[dict[str, testinfra.host.Host]]:
    """A harness container idling and a PostgreSQL container initialised and serving, as testinfra hosts."""
    harness = docker_client.containers.run(images["harness"], ["sleep", "infinity"], detach=True)
    postgres = docker_client.containers.run(images["postgres"], detach=True,
                                            environment={"POSTGRES_PASSWORD": "test-only-password",
                                                         "POSTGRES_DB": "the0_ai"},
                                            ports={"5432/tcp": ("127.0.0.1", None)})
    try:
        yield {"harness": testinfra.get_host(f"docker://{harness.id}"),
               "postgres": testinfra.get_host(f"docker://{postgres.id}"), "postgres_container": postgres}
    finally:
        for c in (harness, postgres):
            c.remove(force=True)
