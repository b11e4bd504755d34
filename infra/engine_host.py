"""Run the Pulumi program the way the Python language host does, under Pulumi's mocks.

`infra.render` starts this file in a fresh interpreter (`python -I`, so neither this directory nor
the working directory is on `sys.path`), as the engine starts `pulumi-language-python-exec`:
nothing but pulumi is imported before the program; the program *directory* (`main:` in
Pulumi.yaml) runs through `runpy.run_path(dir, run_name="__main__")`, which puts that directory
first on `sys.path`; the stack's config arrives in `PULUMI_CONFIG` as the CLI passes it (every
value a string, objects as JSON). A module in the program directory that shadows a package the
program imports breaks here as it does under the engine.

Usage: python -I engine_host.py PROGRAM_DIR PROJECT STACK OUT_JSON
Writes {"registrations": [...], "outputs": {...}} to OUT_JSON; the program's errors go to stderr.
"""
import asyncio
import hashlib
import json
import runpy
import sys

import pulumi
from pulumi.runtime import mocks, rpc
from pulumi.runtime.stack import run_pulumi_func


def _stand_in(name: str, what: str) -> str:
    return f"generated-{what}-" + hashlib.sha256(f"{name}/{what}".encode()).hexdigest()[:24]


def generated_outputs(typ: str, name: str) -> dict:
    """Stand-ins for provider-computed outputs (wire names), deterministic so renders diff cleanly."""
    if typ.startswith(("random:index/randomPassword", "random:index/randomString")):
        return {"result": _stand_in(name, "password")}
    if typ.startswith("random:index/randomBytes"):
        return {"base64": _stand_in(name, "bytes"), "hex": _stand_in(name, "hex")}
    if typ.startswith("tls:index/privateKey"):
        pem = f"-----BEGIN PRIVATE KEY-----\n{_stand_in(name, 'key')}\n-----END PRIVATE KEY-----\n"
        return {"privateKeyPem": pem, "publicKeyPem": pem.replace("PRIVATE", "PUBLIC")}
    if typ.startswith("tls:index/certRequest"):
        return {"certRequestPem": "-----BEGIN CERTIFICATE REQUEST-----\n"
                                  f"{_stand_in(name, 'csr')}\n-----END CERTIFICATE REQUEST-----\n"}
    if typ.startswith(("tls:index/selfSignedCert", "tls:index/locallySignedCert")):
        return {"certPem": f"-----BEGIN CERTIFICATE-----\n{_stand_in(name, 'cert')}\n-----END CERTIFICATE-----\n"}
    return {}


class Generated(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs, **generated_outputs(args.typ, args.name))

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class Recording(mocks.MockMonitor):
    """The mock monitor, keeping every registration as the engine receives it."""

    def __init__(self, mocks_: pulumi.runtime.Mocks):
        super().__init__(mocks_)
        self.registrations: list[dict] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append({
                "type": request.type, "name": request.name, "urn": response.urn, "parent": request.parent,
                "props": rpc.deserialize_properties(request.object),
                "dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "protect": bool(request.protect),
            })
        return response


def main(program: str, project: str, stack: str, out: str) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    generated = Generated()
    monitor = Recording(generated)
    pulumi.runtime.set_mocks(generated, project=project, stack=stack, preview=False, monitor=monitor)
    loop.run_until_complete(run_pulumi_func(lambda: runpy.run_path(program, run_name="__main__")))
    root = pulumi.runtime.get_root_resource()
    outputs = loop.run_until_complete(pulumi.Output.from_input(dict(root.outputs)).future()) if root else {}
    with open(out, "w") as f:
        json.dump({"registrations": monitor.registrations, "outputs": outputs or {}}, f)


if __name__ == "__main__":
    main(*sys.argv[1:5])
