"""StorageClasses fast-ssd / standard / cold; each asks the provisioner for encrypted volumes."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.config import Storage


class StorageClasses(pulumi.ComponentResource):
    def __init__(self, name: str, storage: Storage, retain: bool, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:StorageClasses", name, None, opts)
        for cls, cfg in storage.classes.items():
            params = dict(cfg.parameters)
            if cfg.encrypted:
                params["encrypted"] = "true"
            k8s.storage.v1.StorageClass(
                f"{name}-{cls}",
                metadata={"name": storage.class_name(cls), "labels": {"app.kubernetes.io/part-of": "estate"}},
                provisioner=storage.provisioner,
                parameters=params,
                reclaim_policy="Retain" if retain else "Delete",
                volume_binding_mode="WaitForFirstConsumer",
                allow_volume_expansion=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"classes": [storage.class_name(cls) for cls in storage.classes]})
