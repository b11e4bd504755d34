"""Offline renders of the Pulumi program under Pulumi's mocks: one per stack, shared by the tests."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import STACKS, stack_file
from infra.render import Rendering, render


@pytest.fixture(scope="session")
def renderings() -> dict[str, Rendering]:
    return {stack: render(stack) for stack in STACKS}


@pytest.fixture
def render_changed(tmp_path: Path) -> Callable[..., Rendering]:
    """Render a stack after changing its stack file: `change(config_dict)` edits the `config:` map."""

    def run(stack: str, change: Callable[[dict[str, Any]], None]) -> Rendering:
        doc = yaml.safe_load(stack_file(stack).read_text())
        change(doc["config"])
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return render(stack, path)

    return run
