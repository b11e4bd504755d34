"""The policy rules hold on every stack, fail on a broken config, and the CrossGuard pack reports the
same violations as the rules when its policies are called the way the engine calls them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import PolicyResource, PolicyResourceOptions, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from infra.config import STACKS
from infra.policy_pack import policies
from infra.policy_rules import RULES, Resource, violations
from infra.render import Rendering


def pack_violations(rendering: Rendering) -> list[tuple[str, str]]:
    """Run every policy of the pack over the rendering as the analyzer does: props wrapped in the engine's
    read-only proxies (Mappings and Sequences, not dicts and lists), with property dependencies."""
    options = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                    custom_timeouts=None, additional_secret_outputs=[], parent=None)
    plain = rendering.policy_resources()
    by_urn: dict[str, PolicyResource] = {}
    for reg, res in zip(rendering.resources, plain):
        by_urn[reg.urn] = PolicyResource(reg.type, unknown_checking_proxy(res.props), reg.urn, reg.name, options, None, None, [], {})
    for reg in rendering.resources:
        by_urn[reg.urn].property_dependencies = {k: [by_urn[u] for u in urns if u in by_urn]
                                                 for k, urns in reg.dependencies.items()}
    found: list[tuple[str, str]] = []
    for policy in policies():
        def report(message: str, urn: Any = None, name: str = policy.name) -> None:
            found.append((name, message))

        if isinstance(policy, ResourceValidationPolicy):
            for pr in by_urn.values():
                policy.validate(ResourceValidationArgs(pr.resource_type, pr.props, pr.urn, pr.name, options, None), report)
        else:
            policy.validate(StackValidationArgs(list(by_urn.values())), report)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_policy_holds_on_every_stack(renderings: dict[str, Rendering], stack: str) -> None:
    assert renderings[stack].violations() == []
    assert pack_violations(renderings[stack]) == []


def test_pack_has_a_policy_per_rule() -> None:
    assert [p.name for p in policies()] == [r.name for r in RULES]


def test_ha_stack_with_one_nats_replica_fails(render_changed) -> None:
    broken = render_changed("staging", lambda c: c["estate:nats"].update(replicas=1))
    found = broken.violations()
    assert found == [("ha-stores", "StatefulSet nats: 1 replicas; an HA stack needs at least 3")]
    assert pack_violations(broken) == found


def test_unencrypted_storage_class_fails(render_changed) -> None:
    def unencrypt(c: dict) -> None:
        c["estate:storage"] = {"classes": {"fast-ssd": {"encrypted": False}, "standard": {}, "cold": {}}}

    found = render_changed("prod", unencrypt).violations()
    assert {rule for rule, _ in found} == {"encrypted-volumes"}
    # postgres, mongo and nats claim fast-ssd; MinIO's standard claims stay fine
    assert sorted(m.split(":")[0] for _, m in found) == [
        "StatefulSet mongo claim data", "StatefulSet nats claim data", "StatefulSet postgres claim data"]


def _pod(env: list[dict], resources: dict | None = None, volumes: list | None = None, args: list | None = None) -> dict:
    c: dict[str, Any] = {"name": "c", "image": "i", "env": env, "args": args or []}
    if resources is not None:
        c["resources"] = resources
    return {"template": {"spec": {"containers": [c], "volumes": volumes or []}}}


def test_rules_catch_what_they_name() -> None:
    """Each rule fails on a resource built to break it (so a rule that never fires cannot pass)."""
    store = {"app.kubernetes.io/name": "mongo", "app.kubernetes.io/component": "store"}
    limits = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    resources = [
        Resource("kubernetes:core/v1:Namespace", "ns", {"kind": "Namespace", "metadata": {"name": "x",
                 "labels": {"estate.dev/ha": "true"}}}),
        Resource("kubernetes:apps/v1:Deployment", "d", {"kind": "Deployment", "metadata": {"name": "d"},
                 "spec": _pod([{"name": "DB_PASSWORD", "value": "hunter2"}], {"requests": {"cpu": "1"}})}),
        Resource("kubernetes:core/v1:Service", "s", {"kind": "Service", "metadata": {"name": "mongo", "labels": store},
                 "spec": {"type": "LoadBalancer"}}),
        Resource("kubernetes:apps/v1:StatefulSet", "m", {"kind": "StatefulSet", "metadata": {"name": "mongo", "labels": store},
                 "spec": {"replicas": 3, **_pod([], limits, args=["--tlsMode", "disabled"]),
                          "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"storageClassName": "plain"}}]}}),
        Resource("kubernetes:core/v1:Secret", "sec", {"kind": "Secret", "metadata": {"name": "sec"},
                 "stringData": {"password": "hunter2"}}, {"stringData": []}),
    ]
    rules = {rule for rule, _ in violations(resources)}
    assert rules == {"container-limits", "no-literal-env-secrets", "no-exposed-stores", "encrypted-volumes",
                     "store-tls", "ha-stores", "generated-secrets"}


def test_the_pack_starts_as_the_cli_would_run_it() -> None:
    """`pulumi preview --policy-pack policies` runs policies/__main__.py and reads the analyzer's port
    from its first line; the pack must build (names, enforcement levels) and serve."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "__main__.py"], cwd=root / "policies", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.isdigit() and 0 < int(line) < 65536, (line, proc.stderr.read() if proc.poll() is not None else "")
    finally:
        proc.kill()
        proc.wait()
