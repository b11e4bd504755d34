"""`estate render` on a real engine: the image `estate image build` made shows as built, one it never
made as not built; the registry column is the registry's answer (on a machine without internet:
"registry unreachable"), and the render succeeds either way."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import docker

from estate.image.status import states

ANSWERS = ("pushed", "not pushed", "not visible (", "registry unreachable (")


def test_a_built_image_shows_as_built(docker_client: docker.DockerClient, images: dict[str, str]) -> None:
    never = images["harness"].rsplit(":", 1)[0] + ":never-built"
    built, missing = states([images["harness"], never], docker_client)
    assert (built.built, missing.built) == ("built", "not built")
    assert built.pushed.startswith(ANSWERS) and missing.pushed.startswith(ANSWERS)


def test_render_lists_the_stacks_images_with_the_built_ones_as_built(docker_client: docker.DockerClient,
                                                                     images: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "estate", "render", "--stack", "dev", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)  # DOCKER_HOST: the tests' engine
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = dict(line[3:].split(None, 1) for line in proc.stdout.splitlines() if line.startswith((" ! ", "   ")))
    assert set(images.values()) <= set(rows), proc.stdout
    for image in images.values():
        assert rows[image].startswith("built, "), rows[image]
    assert "dev: images the stack needs (engine unix://" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "dev: every policy holds"
