"""Run the Pulumi program offline, under Pulumi's own mocks, and write what it declares.

This is how the programs are tested and reviewed without a cluster or the Pulumi CLI: every resource
registration is recorded (type, name, inputs, parent, property dependencies, protect), generated
values are stand-ins derived from the resource name, and Kubernetes objects are written as YAML in the
layout of pulumi-kubernetes' `renderYamlToDirectory` (one file per object), with secrets redacted.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.config import PROJECT, ROOT, ConfigError, StackConfig, as_pulumi_config, read_stack_file, stack_file, validate
from infra.policy_rules import Resource, violations

PROGRAM_DIR = ROOT / "infra"  # `main:` in Pulumi.yaml
ENGINE_HOST = PROGRAM_DIR / "engine_host.py"
REDACTED = "<redacted: generated at deploy time>"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"


class RenderError(ConfigError):
    """The program failed under the mocks; the message is the program's own error, one line."""


@dataclass
class Registration:
    """One resource the program declared, as the engine would receive it."""

    type: str
    name: str
    urn: str
    parent: str
    props: dict[str, Any]
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False

    @property
    def is_kubernetes(self) -> bool:
        return self.type.startswith("kubernetes:") and "Provider" not in self.type

    def manifest(self, reveal: bool = False) -> dict[str, Any]:
        """The Kubernetes object (apiVersion, kind, metadata, ...) with secret values redacted."""
        obj = plain(self.props, reveal)
        head = {k: obj.pop(k) for k in ("apiVersion", "kind", "metadata") if k in obj}
        return {**head, **obj}


@dataclass
class Rendering:
    stack: str
    config: StackConfig
    resources: list[Registration]
    outputs: dict[str, Any]

    def objects(self) -> list[Registration]:
        return [r for r in self.resources if r.is_kubernetes]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [r.manifest(reveal=True) for r in self.objects() if r.props.get("kind") == kind]

    def named(self, kind: str) -> dict[str, dict[str, Any]]:
        """Objects of one kind by metadata.name (secrets revealed, for assertions)."""
        return {o["metadata"]["name"]: o for o in self.of_kind(kind)}

    def policy_resources(self) -> list[Resource]:
        """Resources as the policy rules see them: plain inputs and the types of their dependencies."""
        types = {r.urn: r.type for r in self.resources}
        return [Resource(r.type, r.name, r.manifest(reveal=True),
                         {k: [types.get(u, "") for u in urns] for k, urns in r.dependencies.items()})
                for r in self.resources]

    def violations(self) -> list[tuple[str, str]]:
        return violations(self.policy_resources())


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def plain(value: Any, reveal: bool = False) -> Any:
    """Unwrap engine values into plain YAML data: secrets redacted (or revealed), whole floats to ints."""
    if is_secret(value):
        return plain(value.get("value"), reveal) if reveal else _redact(value.get("value"))
    if isinstance(value, dict):
        return {k: plain(v, reveal) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, reveal) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED for k in value}
    return REDACTED


def run_program(stack: str, raw_config: dict[str, Any]) -> tuple[list[Registration], dict[str, Any]]:
    """Run the program once, as the language host runs it (infra/engine_host.py, a fresh interpreter),
    under mocks, with this config passed as the CLI passes it; return its registrations and outputs."""
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(as_pulumi_config(raw_config))}
    with tempfile.TemporaryDirectory(prefix="estate-render-") as tmp:
        out = Path(tmp) / "program.json"
        proc = subprocess.run([sys.executable, "-I", str(ENGINE_HOST), str(PROGRAM_DIR), PROJECT, stack, str(out)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RenderError(f"the Pulumi program failed for stack {stack}: {_last_error(proc.stderr)}")
        result = json.loads(out.read_text())
    return [Registration(**r) for r in result["registrations"]], result["outputs"]


def _last_error(stderr: str) -> str:
    """The program's own error line (`SomeError: message`) from a traceback, without the class path."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Exit)\b.*:", ln)]
    line = (errors or lines or ["(no output)"])[-1]
    return re.sub(r"^[\w.]*\.(?=\w+:)", "", line)


def render(stack: str, stack_path: Path | None = None) -> Rendering:
    """Validate the stack's config (errors name the key), then run the program under mocks."""
    path = stack_path or stack_file(stack)
    raw = read_stack_file(path)
    cfg = validate(raw, str(path))
    resources, outputs = run_program(stack, raw)
    return Rendering(stack, cfg, resources, outputs)


def file_name(manifest: dict[str, Any]) -> str:
    """pulumi-kubernetes' render layout: `<apiVersion>-<kind>-<namespace>-<name>.yaml`."""
    meta = manifest.get("metadata", {})
    api = manifest["apiVersion"].replace("/", "_")
    return f"{api}-{manifest['kind'].lower()}-{meta.get('namespace', 'default')}-{meta.get('name')}.yaml"


def write(rendering: Rendering, out: Path) -> list[Path]:
    """Write every Kubernetes object (secrets redacted) under `out/1-manifest/`; returns the files."""
    target = out / "1-manifest"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.yaml"):
        old.unlink()
    written = []
    for reg in rendering.objects():
        manifest = reg.manifest()
        path = target / file_name(manifest)
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        written.append(path)
    return written
