"""MinIO: distributed and erasure-coded (4+ pods in HA stacks, or one pod with several drives in dev),
TLS, a KMS master key so default SSE-S3 bucket encryption works, and the seed's buckets set up by a
Job with `mc`: private, encrypted, versioned, with lifecycle expiry from config. The backup bucket
expires objects after the stack's backup retention."""
from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.config import SEED_BUCKETS
from infra.credentials import generated_key_secret
from infra.stores.base import ClientView, Store, StoreArgs

API, CONSOLE = 9000, 9001
APP_POLICY = "estate-app"
# Buckets the harness itself creates and removes as app (probes, load tests, benchmarks)
APP_SCRATCH_BUCKETS = ("estate-probe", "estate-load", "estate-bench-raw")


def app_policy() -> dict:
    """Least privilege for the app user: objects in every bucket, but no bucket creation, deletion,
    policy, encryption or versioning change — except on the harness's own scratch buckets."""
    objects = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectVersion", "s3:DeleteObjectVersion",
               "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    listing = ["s3:ListAllMyBuckets", "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads",
               "s3:GetBucketLocation"]
    scratch = [f"arn:aws:s3:::{b}" for b in APP_SCRATCH_BUCKETS] + [f"arn:aws:s3:::{b}/*" for b in APP_SCRATCH_BUCKETS]
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": listing, "Resource": ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": objects, "Resource": ["arn:aws:s3:::*/*"]},
        {"Effect": "Allow", "Action": ["s3:*"], "Resource": scratch},
    ]}


def buckets_script(buckets: list[str], expiry: dict[str, int]) -> str:
    lines = [
        "#!/bin/sh",
        "# Idempotent: every command converges the bucket to its declared settings.",
        "set -eu",
        'mc alias set estate "$MINIO_URL" "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null',
        'mc admin user add estate "$APP_USER" "$APP_PASSWORD"',
        'mc admin user add estate "$READONLY_USER" "$READONLY_PASSWORD"',
        'mc admin user add estate "$BACKUP_USER" "$BACKUP_PASSWORD"',
        f"mc admin policy create estate {APP_POLICY} /etc/estate/buckets/{APP_POLICY}.json",
        f'mc admin policy attach estate {APP_POLICY} --user "$APP_USER" || true',
        'mc admin policy attach estate readonly --user "$READONLY_USER" || true',
        'mc admin policy attach estate readwrite --user "$BACKUP_USER" || true',
    ]
    for b in buckets:
        lines += [
            f"mc mb --ignore-existing --with-versioning estate/{b}",
            f"mc anonymous set none estate/{b}",
            f"mc encrypt set sse-s3 estate/{b}",
        ]
        if b in expiry:
            lines.append(f"mc ilm rule ls estate/{b} | grep -q 'Expiration' || mc ilm rule add --expire-days {expiry[b]} "
                         f"--noncurrent-expire-days {expiry[b]} estate/{b}")
    return "\n".join(lines) + "\n"


class Minio(Store):
    """Object storage for custom bots, code, backtest results, AI artifacts, logs and backups."""

    app = "minio"
    kind = "minio"
    extra_roles = ("backup",)

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Minio", name, args, opts)
        cfg = args.cfg
        tls_secret = self.tls_secret()
        kms = generated_key_secret(self, f"{self.app}-kms", self.ns, self.app, "key", length=32, prefix="estate-key:",
                                   protect=args.protect)
        pods, drives = cfg.replicas, cfg.drives_per_pod
        drive_path = f"/data{{0...{drives - 1}}}" if drives > 1 else "/data0"
        if pods > 1:
            volumes = f"https://{self.app}-{{0...{pods - 1}}}.{self.app}-hl.{self.ns}.svc.cluster.local{drive_path}"
        else:
            volumes = drive_path
        self.url = f"https://{kx.service_dns(self.app, self.ns)}:{API}"
        ports = {"api": API, "console": CONSOLE}
        kx.headless_service(self, self.app, self.ns, ports)
        kx.cluster_service(self, self.app, self.ns, {"api": API})
        sec = self.credentials.secret_name
        self.statefulset(
            [self.container(
                "minio",
                args=["server", "--certs-dir", "/etc/estate/minio-certs", "--console-address", f":{CONSOLE}", volumes],
                env=[
                    kx.secret_env("MINIO_ROOT_USER", sec, "admin-username"),
                    kx.secret_env("MINIO_ROOT_PASSWORD", sec, "admin-password"),
                    kx.secret_env("MINIO_KMS_SECRET_KEY", kms, "key"),
                    {"name": "MINIO_STORAGE_CLASS_STANDARD", "value": "EC:2" if pods * drives >= 4 else "EC:0"},
                ],
                ports=[{"name": n, "containerPort": p} for n, p in ports.items()],
                readinessProbe={"httpGet": {"path": "/minio/health/ready", "port": API, "scheme": "HTTPS"}, "periodSeconds": 5},
                volumeMounts=[
                    *({"name": f"data{d}", "mountPath": f"/data{d}"} for d in range(drives)),
                    {"name": "certs", "mountPath": "/etc/estate/minio-certs", "readOnly": True},
                ],
            )],
            # MinIO reads public.crt / private.key and trusts CAs/ in its certs dir.
            [{"name": "certs", "secret": {"secretName": tls_secret, "defaultMode": 0o440, "items": [
                {"key": "tls.crt", "path": "public.crt"}, {"key": "tls.key", "path": "private.key"},
                {"key": "ca.crt", "path": "CAs/ca.crt"}]}}],
            [self.claim(f"data{d}") for d in range(drives)],
        )
        expiry = {**cfg.bucket_expiry_days, args.backups.bucket: args.backups.retention_days}
        k8s.core.v1.ConfigMap(
            f"{name}-buckets",
            metadata=kx.meta(f"{self.app}-buckets", self.ns, self.app, "store"),
            data={"buckets.sh": buckets_script([*SEED_BUCKETS, args.backups.bucket], expiry),
                  f"{APP_POLICY}.json": json.dumps(app_policy(), indent=2)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.setup_job("buckets", self.container(
            "mc",
            image=cfg.mc_image,
            command=["/bin/sh", "/etc/estate/buckets/buckets.sh"],
            env=[
                {"name": "MINIO_URL", "value": self.url},
                {"name": "SSL_CERT_FILE", "value": "/etc/estate/tls/ca.crt"},
                *(kx.secret_env(f"{env}_{suffix}", sec, f"{role}-{field}")
                  for env, role in (("ROOT", "admin"), ("APP", "app"), ("READONLY", "readonly"), ("BACKUP", "backup"))
                  for suffix, field in (("USER", "username"), ("PASSWORD", "password"))),
            ],
            volumeMounts=[kx.tls_mount(), {"name": "buckets", "mountPath": "/etc/estate/buckets", "readOnly": True}],
        ), [kx.tls_volume(tls_secret), {"name": "buckets", "configMap": {"name": f"{self.app}-buckets"}}])
        self.tls = tls_secret
        endpoints = [{"name": self.app, "host": kx.service_dns(self.app, self.ns), "port": API, "role": "member"}]
        self.finish(ClientView("minio", "minio", API, endpoints, self.credentials, "", {
            "erasure_coding": pods * drives >= 4, "sse_kms": True, "distributed": pods > 1,
        }))

    def pgbackrest_env(self, bucket: str) -> list[dict]:
        """pgBackRest's settings for WAL archiving into ``bucket``/postgres over the S3 API with the estate's CA."""
        sec = self.credentials.secret_name
        return [
            {"name": "PGBACKREST_STANZA", "value": "estate"},
            {"name": "PGBACKREST_PG1_PATH", "value": "/var/lib/postgresql/data/pgdata"},
            {"name": "PGBACKREST_REPO1_TYPE", "value": "s3"},
            {"name": "PGBACKREST_REPO1_PATH", "value": "/postgres"},
            {"name": "PGBACKREST_REPO1_S3_BUCKET", "value": bucket},
            {"name": "PGBACKREST_REPO1_S3_ENDPOINT", "value": kx.service_dns(self.app, self.ns)},
            {"name": "PGBACKREST_REPO1_STORAGE_PORT", "value": str(API)},
            {"name": "PGBACKREST_REPO1_S3_REGION", "value": "us-east-1"},
            {"name": "PGBACKREST_REPO1_S3_URI_STYLE", "value": "path"},
            {"name": "PGBACKREST_REPO1_STORAGE_CA_FILE", "value": "/etc/estate/tls/ca.crt"},
            kx.secret_env("PGBACKREST_REPO1_S3_KEY", sec, "backup-username"),
            kx.secret_env("PGBACKREST_REPO1_S3_KEY_SECRET", sec, "backup-password"),
        ]

