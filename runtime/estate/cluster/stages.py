"""kwok's stage configuration: upstream's own stage files, with the volume stages widened to the
stacks' StorageClasses.

Upstream's volume stages act only on claims and volumes of class ``kwok-volume`` and give every
volume ``persistentVolumeReclaimPolicy: Delete``. Here each volume stage matches the classes the
stacks declare, and claim provisioning is split per reclaim policy so a volume gets its class's
policy (``Retain`` volumes outlive their claims, as they would with a real provisioner).
"""
from __future__ import annotations

import copy
from pathlib import Path

import yaml

from estate.errors import EstateError

STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
    "volume/fast/pvc-provision.yaml",
    "volume/fast/pv-bind.yaml",
    "volume/fast/pvc-delete.yaml",
    "volume/fast/pv-delete.yaml",
)
UPSTREAM_CLASS = "self.spec.storageClassName == 'kwok-volume'"
UPSTREAM_RECLAIM = '{{ default "Delete" .spec.reclaimPolicy | Quote }}'


def _cel_list(names: list[str]) -> str:
    return "[" + ", ".join(f"'{n}'" for n in names) + "]"


def widen(stage: dict, classes: list[str]) -> dict:
    """A copy of a volume stage whose class selector matches ``classes`` instead of ``kwok-volume``."""
    stage = copy.deepcopy(stage)
    found = False
    for expr in stage["spec"]["selector"]["matchExpressions"]:
        if expr.get("cel", {}).get("expression", "").strip() == UPSTREAM_CLASS:
            expr["cel"]["expression"] = f"self.spec.storageClassName in {_cel_list(classes)}"
            found = True
    if not found:
        raise EstateError(f"kwok stage {stage['metadata']['name']}: no `{UPSTREAM_CLASS}` selector to widen")
    return stage


def provision_stages(stage: dict, classes: dict[str, str]) -> list[dict]:
    """Upstream's pvc-provision stage once per reclaim policy, for that policy's classes."""
    by_policy: dict[str, list[str]] = {}
    for name, policy in sorted(classes.items()):
        by_policy.setdefault(policy, []).append(name)
    out = []
    for policy, names in sorted(by_policy.items()):
        s = widen(stage, names)
        s["metadata"]["name"] = f"{stage['metadata']['name']}-{policy.lower()}"
        template = s["spec"]["steps"][0]["apply"]["template"]
        if UPSTREAM_RECLAIM not in template:
            raise EstateError("kwok stage pvc-provision: its volume template no longer sets the reclaim policy as expected")
        s["spec"]["steps"][0]["apply"]["template"] = template.replace(UPSTREAM_RECLAIM, f'"{policy}"')
        out.append(s)
    return out


def stage_documents(stage_dir: Path, classes: dict[str, str]) -> list[dict]:
    """Every stage kwok runs, from upstream's files under ``stage_dir`` (kustomize/stage)."""
    if not classes:
        raise EstateError("no StorageClasses given for kwok's volume stages")
    names = sorted({*classes, "kwok-volume"})
    docs = []
    for rel in STAGE_FILES:
        path = stage_dir / rel
        try:
            stage = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise EstateError(f"kwok stage file missing: {path}") from None
        if rel.endswith("pvc-provision.yaml"):
            docs += provision_stages(stage, {**classes, "kwok-volume": "Delete"})
        elif rel.startswith("volume/"):
            docs.append(widen(stage, names))
        else:
            docs.append(stage)
    return docs


def write_stage_config(path: Path, stage_dir: Path, classes: dict[str, str]) -> bool:
    """Write kwok's ``--config`` file; True if its content changed (kwok must restart to see it)."""
    text = yaml.safe_dump_all(stage_documents(stage_dir, classes), sort_keys=False)
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True
