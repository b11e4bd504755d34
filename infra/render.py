"""Run the Pulumi program offline, under Pulumi's own mocks, and write what it declares.

This is how the programs are tested and reviewed without a cluster or the Pulumi CLI: every resource
registration is recorded (type, name, inputs, parent, property dependencies, protect), generated
values are stand-ins derived from the resource name, and Kubernetes objects are written as YAML in the
layout of pulumi-kubernetes' `renderYamlToDirectory` (one file per object), with secrets redacted.
"""
from __future__ import annotations

import asyncio
import contextvars
import hashlib
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from infra.config import PROJECT, ROOT, StackConfig, as_pulumi_config, read_stack_file, stack_file, validate
from infra.policy_rules import Resource, violations

PROGRAM = ROOT / "infra" / "__main__.py"
REDACTED = "<redacted: generated at deploy time>"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG_KEY = "4dabf18193072939515e22adb298388d"


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


def _stand_in(name: str, what: str) -> str:
    return f"generated-{what}-" + hashlib.sha256(f"{name}/{what}".encode()).hexdigest()[:24]


def _generated_outputs(typ: str, name: str) -> dict[str, Any]:
    """Stand-ins for provider-computed outputs (wire names), deterministic so renders diff cleanly."""
    if typ.startswith("random:index/randomPassword") or typ.startswith("random:index/randomString"):
        return {"result": _stand_in(name, "password")}
    if typ.startswith("random:index/randomBytes"):
        return {"base64": _stand_in(name, "bytes"), "hex": _stand_in(name, "hex")}
    if typ.startswith("tls:index/privateKey"):
        pem = f"-----BEGIN PRIVATE KEY-----\n{_stand_in(name, 'key')}\n-----END PRIVATE KEY-----\n"
        return {"privateKeyPem": pem, "publicKeyPem": pem.replace("PRIVATE", "PUBLIC")}
    if typ.startswith("tls:index/certRequest"):
        return {"certRequestPem": f"-----BEGIN CERTIFICATE REQUEST-----\n{_stand_in(name, 'csr')}\n-----END CERTIFICATE REQUEST-----\n"}
    if typ.startswith("tls:index/selfSignedCert") or typ.startswith("tls:index/locallySignedCert"):
        return {"certPem": f"-----BEGIN CERTIFICATE-----\n{_stand_in(name, 'cert')}\n-----END CERTIFICATE-----\n"}
    return {}


def run_program(stack: str, raw_config: dict[str, Any]) -> tuple[list[Registration], dict[str, Any]]:
    """Run infra/__main__.py once under mocks with this config, in a fresh context (Pulumi keeps its root
    resource and config in context variables) with a fresh event loop, so runs never leak into each other."""
    return contextvars.Context().run(_run_program, stack, raw_config)


def _run_program(stack: str, raw_config: dict[str, Any]) -> tuple[list[Registration], dict[str, Any]]:
    import pulumi
    from pulumi.runtime import mocks, rpc
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime.stack import run_pulumi_func

    registrations: list[Registration] = []

    class Generated(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            return f"{args.name}-id", dict(args.inputs, **_generated_outputs(args.typ, args.name))

        def call(self, args: pulumi.runtime.MockCallArgs):
            return {}

    class Recording(mocks.MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                registrations.append(Registration(
                    type=request.type, name=request.name, urn=response.urn, parent=request.parent,
                    props=rpc.deserialize_properties(request.object),
                    dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                    protect=bool(request.protect),
                ))
            return response

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        generated = Generated()
        pulumi.runtime.set_mocks(generated, project=PROJECT, stack=stack, preview=False, monitor=Recording(generated))
        set_all_config(as_pulumi_config(raw_config))
        loop.run_until_complete(run_pulumi_func(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
        root = pulumi.runtime.get_root_resource()
        outputs = loop.run_until_complete(pulumi.Output.from_input(dict(root.outputs)).future()) if root else {}
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    return registrations, outputs or {}


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
