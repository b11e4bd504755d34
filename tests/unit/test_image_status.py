"""`estate render`'s image report with no Docker engine at all: every image named, each said to be
unknowable ("no engine"), and the render still succeeds. (With a real engine: tests/images.)"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from estate.cli import app
from estate.image import engine
from estate.image.status import ImageState, needed, registry_of, states, summary


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DOCKER_HOST, the private socket and the system socket all lead nowhere."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    monkeypatch.setattr(engine, "SOCKET", tmp_path / "private.sock")
    monkeypatch.setattr(engine, "SYSTEM_SOCKET", tmp_path / "system.sock")


def test_images_are_collected_from_every_container_and_init_container() -> None:
    pod = {"initContainers": [{"name": "key", "image": "busybox:1"}], "containers": [{"name": "a", "image": "a:1"}]}
    objects = [
        {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}},
        {"kind": "StatefulSet", "spec": {"template": {"spec": {"containers": [{"name": "b", "image": "a:1"},
                                                                              {"name": "c", "image": "ghcr.io/o/c:2"}]}}}},
        {"kind": "ConfigMap", "data": {"image": "not-a-container:1"}},
    ]
    assert needed(objects) == ["a:1", "busybox:1", "ghcr.io/o/c:2"]


def test_registry_of_an_image_reference() -> None:
    assert registry_of("mongo:7.0.14") == "docker.io"
    assert registry_of("minio/minio:RELEASE.2025") == "docker.io"
    assert registry_of("ghcr.io/the0/estate:0.1.0") == "ghcr.io"
    assert registry_of("127.0.0.1:5000/the0/estate:0.1.0") == "127.0.0.1:5000"
    assert registry_of("localhost/x:1") == "localhost"


def test_without_an_engine_every_image_is_unknown(no_engine: None) -> None:
    assert engine.reachable(timeout=2) is None
    got = states(["a:1", "ghcr.io/o/c:2"], None)
    assert got == [ImageState("a:1", "no engine", "no engine"), ImageState("ghcr.io/o/c:2", "no engine", "no engine")]
    assert all(s.missing for s in got)
    assert summary(got) == "2 images: 2 no engine; 2 no engine; 2 not built or not pushed"
    assert summary([ImageState("a:1", "built", "pushed"), ImageState("b:1", "built", "registry unreachable (x)")]) \
        == "2 images: 2 built; 1 pushed, 1 registry unreachable; 1 not built or not pushed"


def test_render_reports_images_without_an_engine_and_still_succeeds(no_engine: None, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["render", "--stack", "dev", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "dev: images the stack needs (no Docker engine answers;" in result.output
    assert any(line.split()[1:] == ["ghcr.io/the0/estate:0.1.0", "no", "engine,", "no", "engine"] for line in lines), result.output
    assert any(re.fullmatch(r"dev: (\d+) images: \1 no engine; \1 no engine; \1 not built or not pushed", line)
               for line in lines), result.output
    assert lines[-1] == "dev: every policy holds"
