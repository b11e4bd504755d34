"""An environment from a Pulumi stack's outputs: `estate <command> --env dev|staging|prod`.

The stack exports `environment` (infra/estate.py); this reads it with the user's Pulumi CLI
(`pulumi stack output --json --show-secrets`), keeps the CA in a file of its own and builds the same
Environment model the local estate produces. Hosts are cluster DNS names: run from inside the
cluster, or through a tunnel that resolves them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from estate.environment import Environment
from estate.errors import EstateError, first_line, validation_message
from infra.config import ROOT, STACKS_DIR, stack_file

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "estate" / "stacks"


def stack_outputs(stack: str) -> dict[str, Any]:
    """The stack's outputs, secrets shown, from the Pulumi CLI."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise EstateError(f"--env {stack}: the Pulumi CLI is not on PATH; install it and log in to the backend "
                          "that holds the stack (or use --env local / --env in-cluster)")
    if not stack_file(stack).exists():
        known = sorted(p.stem.split(".", 1)[1] for p in STACKS_DIR.glob("Pulumi.*.yaml"))
        raise EstateError(f"--env {stack}: no stack file stacks/Pulumi.{stack}.yaml (known: local, in-cluster, "
                          f"{', '.join(known)})")
    proc = subprocess.run([pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EstateError(f"pulumi stack output -s {stack} failed: {first_line((proc.stderr or proc.stdout).strip() or f'exit {proc.returncode}')}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise EstateError(f"pulumi stack output -s {stack} did not print JSON") from None


def environment_from_outputs(stack: str, outputs: dict[str, Any], cache: Path = CACHE) -> Environment:
    """Build the Environment from the `environment` output; the CA goes to <cache>/<stack>/ca.pem."""
    env = outputs.get("environment")
    if not isinstance(env, dict) or "stores" not in env:
        raise EstateError(f"stack {stack} exports no 'environment' output: has `pulumi up -s {stack}` run?")
    ca_file = cache / stack / "ca.pem"
    ca_file.parent.mkdir(parents=True, exist_ok=True)
    ca_file.write_text(env.get("ca_pem", ""))
    try:  # the model ignores what clients do not need, such as each store's credentials_secret
        return Environment.model_validate({"name": stack, "ca_file": ca_file, "stores": env["stores"],
                                           "durability": env.get("durability", {}), "backups": env.get("backups")})
    except ValidationError as exc:
        raise EstateError(f"stack {stack}: environment output is malformed: {validation_message(exc)}") from None


def environment_from_stack(stack: str) -> Environment:
    return environment_from_outputs(stack, stack_outputs(stack))
