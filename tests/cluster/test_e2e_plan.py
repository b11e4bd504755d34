"""What the e2e run changes and compares, checked without a cluster."""
from __future__ import annotations

from pathlib import Path

import yaml

from estate.cluster.e2e import CHANGED_STORE, changed_stack_file, differences, ordered, rendered_objects
from infra.config import read_stack_file, stack_file, validate


def test_config_change_is_a_valid_stack_file_with_more_replicas_and_memory(tmp_path: Path) -> None:
    source = stack_file("prod")
    before = yaml.safe_load(source.read_text())["config"][f"estate:{CHANGED_STORE}"]
    target = tmp_path / "Pulumi.prod.yaml"
    store = changed_stack_file(source, target)
    assert store["replicas"] == before["replicas"] + 2
    assert store["resources"]["limits"]["memory"] != before["resources"]["limits"]["memory"]
    assert store["volume"]["size"] == before["volume"]["size"]
    validate(read_stack_file(target), str(target))  # the program accepts it as it would the user's edit
    resized = changed_stack_file(source, target, resize_volume=True)
    assert resized["volume"]["size"] != before["volume"]["size"]


def test_rendered_objects_reveal_secrets_and_put_namespace_first() -> None:
    objects = rendered_objects("dev")
    assert objects[0]["kind"] == "Namespace"
    kinds = [o["kind"] for o in objects]
    assert kinds.index("StorageClass") < kinds.index("StatefulSet")
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert "redacted" not in yaml.safe_dump(secret)  # what the engine would send


def test_order_is_stable_within_a_kind() -> None:
    objs = [{"kind": k, "metadata": {"name": n}} for k, n in
            [("Service", "a"), ("Namespace", "ns"), ("Secret", "s"), ("Service", "b"), ("StorageClass", "sc")]]
    assert [o["metadata"]["name"] for o in ordered(objs)] == ["ns", "sc", "s", "a", "b"]


def test_differences_ignore_bookkeeping_and_status_but_not_spec_or_labels() -> None:
    live = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}, "status": {"x": 1},
            "metadata": {"name": "c", "resourceVersion": "5", "uid": "u", "managedFields": [1], "labels": {"l": "1"}}}
    same = {**live, "status": {"x": 2}, "metadata": {**live["metadata"], "resourceVersion": "6", "managedFields": [2]}}
    assert differences(live, same) == []
    assert differences(live, {**live, "data": {"a": "2"}}) == ["data"]
    assert differences(live, {**live, "metadata": {**live["metadata"], "labels": {}}}) == ["metadata.labels"]
    assert differences(None, live) == ["(object missing)"]
