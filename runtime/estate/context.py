"""Resolving ``--env`` into an Environment: the local estate by default, ``in-cluster`` from a
mounted file, else a Pulumi stack's outputs."""
from __future__ import annotations

import os
from pathlib import Path

from estate.environment import Environment
from estate.errors import EstateError
from estate.local import LocalEstate


def load_environment(name: str = "local", workdir: Path | None = None) -> Environment:
    if name == "local":
        estate = LocalEstate(workdir or Path(".estate"))
        if not estate.layout.environment_file.exists():
            raise EstateError(f"the local estate in {estate.layout.workdir} has not been started: run `estate up`")
        return Environment.load(estate.layout.environment_file)
    if name == "in-cluster":
        # The verification CronJob mounts the stack's environment (a Secret) as a file.
        return Environment.load(Path(os.environ.get("ESTATE_ENVIRONMENT_FILE", "/etc/estate/environment.json")))
    try:
        from estate.stack import environment_from_stack
    except ImportError:
        raise EstateError(f"unknown environment {name!r}: only 'local' is available") from None
    return environment_from_stack(name)
