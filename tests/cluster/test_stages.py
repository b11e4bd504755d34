"""kwok's stage configuration: upstream's volume stages widened to the stacks' StorageClasses."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from estate.cluster import stages
from estate.errors import EstateError

# Upstream's pvc-provision and pv-bind stages (kwok v0.8.0, kustomize/stage/volume/fast), trimmed.
PVC_PROVISION = """
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pvc-provision}
spec:
  resourceRef: {apiGroup: v1, kind: PersistentVolumeClaim}
  selector:
    matchExpressions:
    - cel: {expression: "self.spec.storageClassName == 'kwok-volume'"}
    - cel: {expression: "!has(self.spec.volumeName)"}
  steps:
  - apply:
      template: |
        spec:
          persistentVolumeReclaimPolicy: {{ default "Delete" .spec.reclaimPolicy | Quote }}
"""
PV_BIND = """
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pv-bind}
spec:
  resourceRef: {apiGroup: v1, kind: PersistentVolume}
  selector:
    matchExpressions:
    - cel: {expression: "self.spec.storageClassName == 'kwok-volume'"}
"""
NODE = """
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-initialize}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector: {matchExpressions: []}
"""


def _stage_dir(tmp_path: Path) -> Path:
    for rel in stages.STAGE_FILES:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        name = Path(rel).stem
        text = PVC_PROVISION if name == "pvc-provision" else PV_BIND if rel.startswith("volume/") else NODE
        path.write_text(text.replace("pv-bind", name).replace("node-initialize", name))
    return tmp_path


def _cel(stage: dict) -> list[str]:
    return [e["cel"]["expression"] for e in stage["spec"]["selector"]["matchExpressions"] if "cel" in e]


def test_widen_replaces_the_kwok_volume_selector_and_keeps_the_others() -> None:
    stage = yaml.safe_load(PVC_PROVISION)
    wide = stages.widen(stage, ["fast-ssd", "standard"])
    assert _cel(wide) == ["self.spec.storageClassName in ['fast-ssd', 'standard']", "!has(self.spec.volumeName)"]
    assert _cel(stage)[0] == stages.UPSTREAM_CLASS  # the original is untouched


def test_widen_refuses_a_stage_whose_selector_changed_upstream() -> None:
    stage = yaml.safe_load(PV_BIND.replace("== 'kwok-volume'", "== 'other'"))
    with pytest.raises(EstateError, match="no `self.spec.storageClassName == 'kwok-volume'` selector"):
        stages.widen(stage, ["fast-ssd"])


def test_provisioning_is_split_per_reclaim_policy() -> None:
    out = stages.provision_stages(yaml.safe_load(PVC_PROVISION),
                                  {"fast-ssd": "Retain", "cold": "Retain", "scratch": "Delete"})
    by_name = {s["metadata"]["name"]: s for s in out}
    assert set(by_name) == {"pvc-provision-retain", "pvc-provision-delete"}
    retain = by_name["pvc-provision-retain"]
    assert _cel(retain)[0] == "self.spec.storageClassName in ['cold', 'fast-ssd']"
    assert 'persistentVolumeReclaimPolicy: "Retain"' in retain["spec"]["steps"][0]["apply"]["template"]
    assert 'persistentVolumeReclaimPolicy: "Delete"' in by_name["pvc-provision-delete"]["spec"]["steps"][0]["apply"]["template"]


def test_stage_config_covers_every_stage_and_rewrites_only_on_change(tmp_path: Path) -> None:
    stage_dir = _stage_dir(tmp_path / "stage")
    config = tmp_path / "kwok" / "stages.yaml"
    classes = {"fast-ssd": "Retain", "standard": "Retain"}
    assert stages.write_stage_config(config, stage_dir, classes) is True
    docs = list(yaml.safe_load_all(config.read_text()))
    names = [d["metadata"]["name"] for d in docs]
    assert "pvc-provision-retain" in names and "pvc-provision-delete" in names  # kwok-volume keeps Delete
    assert "pvc-provision" not in names
    bind = next(d for d in docs if d["metadata"]["name"] == "pv-bind")
    assert _cel(bind) == ["self.spec.storageClassName in ['fast-ssd', 'kwok-volume', 'standard']"]
    assert stages.write_stage_config(config, stage_dir, classes) is False
    assert stages.write_stage_config(config, stage_dir, {**classes, "cold": "Delete"}) is True


def test_missing_stage_file_or_classes_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(EstateError, match="kwok stage file missing"):
        stages.stage_documents(tmp_path, {"fast-ssd": "Retain"})
    with pytest.raises(EstateError, match="no StorageClasses"):
        stages.stage_documents(tmp_path, {})
