"""What runs beside the stores: backup CronJobs, the nightly verification CronJob (the harness itself),
and the Locust master and workers for load campaigns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.config import Backups, Harness, Locust
from infra.services import ca_volume, client_labels, store_env
from infra.stores.base import ClientView

ENV_DIR = "/etc/estate/environment"
STAMP = "$(date -u +%Y%m%dT%H%M%SZ)"
MC = 'mc alias set estate "https://$MINIO_ENDPOINT" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY" >/dev/null'


def backup_scripts(bucket: str, stores: dict[str, ClientView]) -> dict[str, str]:
    """One shell pipeline per store: dump with the native tool, stream to the backup bucket.
    Retention is the backup bucket's lifecycle rule (set by the MinIO component)."""
    target = f"estate/{bucket}"
    mongo = stores["mongo"]
    oplog = " --oplog" if len(mongo.endpoints) > 1 else ""
    return {
        "postgres": f'{MC} && pg_dump -Fc -h "$DATABASE_HOST" -U "$DATABASE_USER" -d "$DATABASE_NAME" '
                    f'| mc pipe {target}/postgres/{STAMP}.dump',
        "mongo": f'{MC} && mongodump --host "rs0/$MONGODB_HOSTS" --tls --tlsCAFile "$MONGODB_TLS_CA_FILE" -u "$MONGODB_USER" '
                 f'-p "$MONGODB_PASSWORD" --authenticationDatabase admin --archive --gzip{oplog} '
                 f'| mc pipe {target}/mongo/{STAMP}.archive.gz',
        "nats": f'{MC} && nats --server "$NATS_URL" --user "$NATS_USER" --password "$NATS_PASSWORD" --tlsca "$NATS_CA" '
                f'stream backup THE0_EVENTS /tmp/backup && tar -C /tmp -czf - backup | mc pipe {target}/nats/{STAMP}.tar.gz',
        "minio": f'{MC} && for b in custom-bots bot-code backtest-results ai-artifacts logs; do '
                 f'mc mirror --overwrite "estate/$b" "{target}/minio/$b"; done',
    }


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
    """Backups per store, nightly `estate verify --env in-cluster`, and Locust (0 workers by default)."""

    component_label = "operations"

    def __init__(self, name: str, args: OperationsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Operations", name, None, opts)
        self.args = args
        ns = args.namespace
        ca, ca_mount = ca_volume()
        k8s.core.v1.ConfigMap(
            f"{name}-backup-scripts",
            metadata=kx.meta("estate-backup", ns, "estate-backup", "operations"),
            data=backup_scripts(args.backups.bucket, args.stores),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for store in args.stores:
            # Every job reads the store as admin (readonly cannot dump everything) and writes as the
            # MinIO backup user.
            env = store_env(args.stores[store], "admin") if store != "minio" else []
            env += store_env(args.stores["minio"], "backup")
            self._cronjob(f"backup-{store}", args.backups.schedule, args.harness.image,
                          ["/bin/bash", "-c", f"set -eo pipefail; . /etc/estate/backup/{store}"], env,
                          (store, "minio"), [ca, {"name": "scripts", "configMap": {"name": "estate-backup"}}],
                          [ca_mount, {"name": "scripts", "mountPath": "/etc/estate/backup", "readOnly": True}])
        env_volume = {"name": "environment", "secret": {"secretName": args.environment_secret, "defaultMode": 0o440}}  # group: fsGroup 999
        env_mount = {"name": "environment", "mountPath": ENV_DIR, "readOnly": True}
        harness_env = [{"name": "ESTATE_ENVIRONMENT_FILE", "value": f"{ENV_DIR}/environment.json"}]
        self._cronjob("estate-verify", args.harness.verify_schedule, args.harness.image,
                      ["estate", "verify", "--env", "in-cluster"], harness_env, tuple(args.stores),
                      [ca, env_volume], [ca_mount, env_mount])
        # Every store in one checksummed backup in the backup bucket, and the newest one restored as a
        # copy and compared: a backup that was never restored is not known to be a backup.
        bucket = args.backups.bucket
        self._cronjob("estate-backup", args.backups.schedule, args.harness.image,
                      ["estate", "backup", "--env", "in-cluster", "--workdir", "/tmp/estate", "--upload", "--bucket", bucket],
                      harness_env, tuple(args.stores), [ca, env_volume], [ca_mount, env_mount])
        self._cronjob("estate-restore-drill", args.harness.restore_schedule, args.harness.image,
                      ["estate", "restore", "--env", "in-cluster", "--latest-in", bucket],
                      harness_env, tuple(args.stores), [ca, env_volume], [ca_mount, env_mount])
        self._locust(harness_env, [ca, env_volume], [ca_mount, env_mount])
        self.register_outputs({})

    def _pod(self, app: str, image: str, command: list[str], env: list[dict[str, Any]], stores: tuple[str, ...],
             volumes: list[dict[str, Any]], mounts: list[dict[str, Any]], restart: str | None = None) -> dict[str, Any]:
        res = self.args.locust.resources if app.startswith("locust") else self.args.harness.resources
        spec: dict[str, Any] = {
            "securityContext": kx.pod_security(),
            "automountServiceAccountToken": False,
            "containers": [{
                "name": app,
                "image": image,
                "imagePullPolicy": self.args.image_pull_policy,
                "command": command,
                "env": env,
                "resources": kx.resources(res),
                "securityContext": kx.container_security(),
                "volumeMounts": mounts,
            }],
            "volumes": volumes,
        }
        if restart:
            spec["restartPolicy"] = restart
        return {"metadata": {"labels": {**kx.labels(app, "operations"), **client_labels(stores)}}, "spec": spec}

    def _cronjob(self, app: str, schedule: str, image: str, command: list[str], env: list[dict[str, Any]],
                 stores: tuple[str, ...], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> None:
        k8s.batch.v1.CronJob(
            f"{self.pulumi_resource_name}-{app}",
            metadata=kx.meta(app, self.args.namespace, app, "operations"),
            spec={
                "schedule": schedule,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": self._pod(
                    app, image, command, env, stores, volumes, mounts, restart="Never")}},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _locust(self, env: list[dict[str, Any]], volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> None:
        ns, cfg, stores = self.args.namespace, self.args.locust, tuple(self.args.stores)
        locustfile = ["locust", "-f", "loadtests/locustfile.py"]
        for app, replicas, command, ports in (
            ("locust-master", 1, [*locustfile, "--master"], {"ui": 8089, "master": 5557}),
            ("locust-worker", cfg.workers, [*locustfile, "--worker", "--master-host", "locust-master"], {}),
        ):
            pod = self._pod(app, cfg.image, command, env, stores, volumes, mounts)
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
