"""What runs beside the stores, all in the harness image: the estate backup of every store and its
restore drill, the nightly verification (CronJobs), and the Locust master and workers for load campaigns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.config import Backups, Harness, Locust
from infra.services import ca_volume, client_labels
from infra.stores.base import ClientView

ENV_DIR = "/etc/estate/environment"


@dataclass(frozen=True)
class OperationsArgs:
    namespace: str
    backups: Backups
    harness: Harness
    locust: Locust
    stores: dict[str, ClientView]
    environment_secret: str
    image_pull_policy: str = "IfNotPresent"


class Operations(pulumi.ComponentResource):
    """`estate backup --upload` and its restore drill, nightly `estate verify --env in-cluster`, and Locust
    (0 workers by default), each reading the stack's environment from a Secret mounted as a file."""

    component_label = "operations"

    def __init__(self, name: str, args: OperationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Operations", name, None, opts)
        self.args = args
        ca, ca_mount = ca_volume()
        env_volume = {"name": "environment", "secret": {"secretName": args.environment_secret, "defaultMode": 0o440}}  # group: fsGroup 999
        self.env = [{"name": "ESTATE_ENVIRONMENT_FILE", "value": f"{ENV_DIR}/environment.json"}]
        self.volumes = [ca, env_volume]
        self.mounts = [ca_mount, {"name": "environment", "mountPath": ENV_DIR, "readOnly": True}]
        bucket = args.backups.bucket
        self._cronjob("estate-verify", args.harness.verify_schedule, ["estate", "verify", "--env", "in-cluster"])
        # Every store in one checksummed backup in the backup bucket, and the newest one restored as a
        # copy and compared: a backup that was never restored is not known to be a backup.
        self._cronjob("estate-backup", args.backups.schedule,
                      ["estate", "backup", "--env", "in-cluster", "--workdir", "/tmp/estate", "--upload", "--bucket", bucket])
        self._cronjob("estate-restore-drill", args.harness.restore_schedule,
                      ["estate", "restore", "--env", "in-cluster", "--latest-in", bucket])
        self._locust()
        self.register_outputs({})

    def _pod(self, app: str, command: list[str], restart: str | None = None) -> dict[str, Any]:
        """A pod of the harness image (Locust's own image and resources for the locust pods) that is a
        client of every store."""
        cfg = self.args.locust if app.startswith("locust") else self.args.harness
        spec: dict[str, Any] = {
            "securityContext": kx.pod_security(),
            "automountServiceAccountToken": False,
            "containers": [{
                "name": app,
                "image": cfg.image,
                "imagePullPolicy": self.args.image_pull_policy,
                "command": command,
                "env": self.env,
                "resources": kx.resources(cfg.resources),
                "securityContext": kx.container_security(),
                "volumeMounts": self.mounts,
            }],
            "volumes": self.volumes,
        }
        if restart:
            spec["restartPolicy"] = restart
        return {"metadata": {"labels": {**kx.labels(app, "operations"), **client_labels(tuple(self.args.stores))}}, "spec": spec}

    def _cronjob(self, app: str, schedule: str, command: list[str]) -> None:
        k8s.batch.v1.CronJob(
            f"{self.pulumi_resource_name}-{app}",
            metadata=kx.meta(app, self.args.namespace, app, "operations"),
            spec={
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": self._pod(app, command, restart="Never")}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _locust(self) -> None:
        ns, cfg = self.args.namespace, self.args.locust
        locustfile = ["locust", "-f", "loadtests/locustfile.py"]
        for app, replicas, command, ports in (
            ("locust-master", 1, [*locustfile, "--master"], {"ui": 8089, "master": 5557}),
            ("locust-worker", cfg.workers, [*locustfile, "--worker", "--master-host", "locust-master"], {}),
        ):
            pod = self._pod(app, command)
            if ports:
                pod["spec"]["containers"][0]["ports"] = [{"name": n, "containerPort": p} for n, p in ports.items()]
            k8s.apps.v1.Deployment(
                f"{self.pulumi_resource_name}-{app}",
                metadata=kx.meta(app, ns, app, "operations"),
                spec={"replicas": replicas, "selector": {"matchLabels": kx.selector(app)}, "template": pod},
                opts=pulumi.ResourceOptions(parent=self),
            )
            if ports:
                kx.cluster_service(self, app, ns, ports)
