"""PostgreSQL: a primary and streaming standbys (synchronous in HA stacks), TLS-only, WAL archived to the
backup bucket — as a StatefulSet, or as a CloudNativePG `Cluster` when the stack sets `mode: cloudnativepg`.

The StatefulSet mode has no automatic failover: member 0 is the primary and promotion is an operator
action. Stacks that need automatic failover choose the CloudNativePG operator (installed separately).
The image (`estate image build`: ghcr.io/the0/estate-postgres) carries pgBackRest for WAL archiving — WAL-G is
not served by the Go module proxy — next to an entry point compatible with the official image's.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.stores.minio import Minio
from infra.stores.base import ClientView, Store, StoreArgs

PORT = 5432
DATA = "/var/lib/postgresql/data"

ENTRYPOINT = """#!/bin/sh
# Member 0 is the primary; every other member clones it once with pg_basebackup and follows it.
set -eu
export PGDATA=/var/lib/postgresql/data/pgdata
ordinal="${HOSTNAME##*-}"
if [ "$ordinal" != 0 ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  until PGPASSWORD="$REPLICATOR_PASSWORD" pg_basebackup -D "$PGDATA" -R -X stream -C -S "standby_$ordinal" \\
      -d "host=$PRIMARY_HOST user=estate_replicator sslmode=verify-full sslrootcert=/etc/estate/tls/ca.crt application_name=standby_$ordinal"; do
    echo "waiting for the primary at $PRIMARY_HOST"; sleep 5
  done
  chmod 0700 "$PGDATA"
fi
exec docker-entrypoint.sh postgres -c config_file=/etc/estate/postgres/postgresql.conf
"""

INIT_ARCHIVE = """#!/bin/sh
# Runs once, on the primary's first start (the temporary server is up): the pgBackRest stanza in the bucket.
set -eu
pgbackrest --stanza=estate --log-level-console=info stanza-create
"""

INIT_ROLES = """#!/bin/sh
# Runs once, on the primary's first start: least-privilege roles and the seed's database.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE estate_app LOGIN PASSWORD '$APP_PASSWORD';
CREATE ROLE estate_readonly LOGIN PASSWORD '$READONLY_PASSWORD';
CREATE ROLE estate_replicator LOGIN REPLICATION PASSWORD '$REPLICATOR_PASSWORD';
GRANT CONNECT ON DATABASE "$POSTGRES_DB" TO estate_app, estate_readonly;
GRANT pg_read_all_data TO estate_readonly;
SQL
"""

HBA = """# TLS only: no 'host' lines, so plain TCP is refused; SCRAM everywhere.
local   all          all                                   peer
hostssl replication  estate_replicator  0.0.0.0/0  scram-sha-256
hostssl all          all                0.0.0.0/0  scram-sha-256
"""


def postgresql_conf(synchronous: bool, members: int) -> str:
    sync = "synchronous_standby_names = 'ANY 1 (*)'" if synchronous and members > 1 else "# no synchronous standby"
    return f"""listen_addresses = '*'
hba_file = '/etc/estate/postgres/pg_hba.conf'
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '/etc/estate/tls/tls.crt'
ssl_key_file = '/etc/estate/tls/tls.key'
ssl_ca_file = '/etc/estate/tls/ca.crt'
ssl_min_protocol_version = 'TLSv1.2'
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
{sync}
archive_mode = on
archive_command = 'pgbackrest --stanza=estate archive-push %p'
archive_timeout = 60
"""


class Postgres(Store):
    """PostgreSQL for the AI chat data (database `the0_ai` by default)."""

    app = "postgres"
    kind = "postgres"
    extra_roles = ("replicator",)

    def __init__(self, name: str, args: StoreArgs, minio: Minio, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Postgres", name, args, opts)
        cfg = args.cfg
        tls_secret = self.tls_secret([f"{self.app}-primary.{self.ns}.svc.cluster.local",
                                      f"{self.app}-replicas.{self.ns}.svc.cluster.local"])
        if cfg.mode == "cloudnativepg":
            self._cloudnativepg(name, tls_secret, minio)
            primary, replicas = f"{self.app}-rw", f"{self.app}-ro"
        else:
            self._statefulset(name, tls_secret, minio.pgbackrest_env(args.backups.bucket))
            primary, replicas = f"{self.app}-primary", f"{self.app}-replicas"
        endpoints = [{"name": "primary", "host": kx.service_dns(primary, self.ns), "port": PORT, "role": "primary"}]
        if cfg.replicas > 1:
            endpoints.append({"name": "standby", "host": kx.service_dns(replicas, self.ns), "port": PORT,
                              "role": "standby"})
        self.finish(ClientView("postgres", "postgresql", PORT, endpoints, self.credentials, cfg.database, {
            "synchronous_standby": bool(cfg.synchronous and cfg.replicas > 1),
            "automatic_failover": cfg.mode == "cloudnativepg",
            "wal_archive": True,
        }))

    def _env(self) -> list[dict]:
        sec = self.credentials.secret_name
        return [
            {"name": "POSTGRES_USER", "value": self.credentials.usernames["admin"]},
            kx.secret_env("POSTGRES_PASSWORD", sec, "admin-password"),
            {"name": "POSTGRES_DB", "value": self.args.cfg.database},
            kx.secret_env("APP_PASSWORD", sec, "app-password"),
            kx.secret_env("READONLY_PASSWORD", sec, "readonly-password"),
            kx.secret_env("REPLICATOR_PASSWORD", sec, "replicator-password"),
            {"name": "PRIMARY_HOST", "value": kx.dns(f"{self.app}-0", f"{self.app}-hl", self.ns)},
        ]

    def _statefulset(self, name: str, tls_secret: str, backup_env: list[dict]) -> None:
        cfg = self.args.cfg
        conf = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=kx.meta(f"{self.app}-config", self.ns, self.app, "store"),
            data={"postgresql.conf": postgresql_conf(cfg.synchronous, cfg.replicas), "pg_hba.conf": HBA,
                  "entrypoint.sh": ENTRYPOINT, "10-roles.sh": INIT_ROLES, "20-archive.sh": INIT_ARCHIVE},
            opts=pulumi.ResourceOptions(parent=self),
        )
        kx.headless_service(self, self.app, self.ns, {"postgres": PORT})
        kx.cluster_service(self, self.app, self.ns, {"postgres": PORT},
                        {"statefulset.kubernetes.io/pod-name": f"{self.app}-0"}, name=f"{self.app}-primary")
        kx.cluster_service(self, self.app, self.ns, {"postgres": PORT}, name=f"{self.app}-replicas")
        self.statefulset(
            [self.container(
                "postgres",
                command=["/bin/sh", "/etc/estate/postgres/entrypoint.sh"],
                env=[*self._env(), *backup_env],
                ports=[{"name": "postgres", "containerPort": PORT}],
                readinessProbe={"exec": {"command": ["pg_isready", "-h", "127.0.0.1"]}, "periodSeconds": 5},
                volumeMounts=[
                    {"name": "data", "mountPath": DATA},
                    {"name": "config", "mountPath": "/etc/estate/postgres", "readOnly": True},
                    {"name": "config", "mountPath": "/docker-entrypoint-initdb.d/10-roles.sh", "subPath": "10-roles.sh",
                     "readOnly": True},
                    {"name": "config", "mountPath": "/docker-entrypoint-initdb.d/20-archive.sh", "subPath": "20-archive.sh",
                     "readOnly": True},
                    kx.tls_mount(),
                ],
            )],
            [{"name": "config", "configMap": {"name": f"{self.app}-config"}}, kx.tls_volume(tls_secret)],
            [self.claim("data")],
            pod_labels={"estate.dev/client-minio": "true"}, ordered=True, depends_on=[conf],
        )

    def _cloudnativepg(self, name: str, tls_secret: str, minio: Minio) -> None:
        cfg = self.args.cfg
        minio_secret = minio.credentials.secret_name
        spec: dict = {
            "instances": cfg.replicas,
            "imageName": cfg.image,
            "primaryUpdateStrategy": "unsupervised",
            "enablePDB": True,
            "storage": {"size": cfg.volume.size, "storageClass": self.args.storage.class_name(cfg.volume.storage_class)},
            "resources": kx.resources(cfg.resources),
            "certificates": {"serverTLSSecret": tls_secret, "serverCASecret": tls_secret},
            "postgresql": {
                "parameters": {"password_encryption": "scram-sha-256", "ssl_min_protocol_version": "TLSv1.2",
                               "synchronous_commit": "on"},
                "pg_hba": ["hostssl all all all scram-sha-256"],
            },
            "bootstrap": {"initdb": {"database": cfg.database, "owner": self.credentials.usernames["app"],
                                     "secret": {"name": f"{self.app}-app-login"}}},
            "managed": {"roles": [
                {"name": self.credentials.usernames["readonly"], "login": True, "inRoles": ["pg_read_all_data"],
                 "passwordSecret": {"name": f"{self.app}-readonly-login"}},
            ]},
            "backup": {
                "retentionPolicy": f"{self.args.backups.retention_days}d",
                "barmanObjectStore": {
                    "destinationPath": f"s3://{self.args.backups.bucket}/postgres",
                    "endpointURL": minio.url,
                    "endpointCA": {"name": tls_secret, "key": "ca.crt"},
                    "s3Credentials": {
                        "accessKeyId": {"name": minio_secret, "key": "backup-username"},
                        "secretAccessKey": {"name": minio_secret, "key": "backup-password"},
                    },
                    "wal": {"compression": "gzip"},
                },
            },
        }
        if cfg.synchronous and cfg.replicas > 1:
            spec["postgresql"]["synchronous"] = {"method": "any", "number": 1}
        # CloudNativePG reads role passwords from basic-auth Secrets; these copy the generated ones.
        for role in ("app", "readonly"):
            k8s.core.v1.Secret(
                f"{name}-{role}-login",
                metadata=kx.meta(f"{self.app}-{role}-login", self.ns, self.app, "store"),
                type="kubernetes.io/basic-auth",
                string_data=pulumi.Output.secret({"username": self.credentials.usernames[role],
                                                  "password": self.credentials.passwords[role]}),
                opts=pulumi.ResourceOptions(parent=self),
            )
        k8s.apiextensions.CustomResource(
            f"{name}-cluster", api_version="postgresql.cnpg.io/v1", kind="Cluster",
            metadata=kx.meta(self.app, self.ns, self.app, "store"), spec=spec,
            opts=self.child(stateful=True),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-scheduled-backup", api_version="postgresql.cnpg.io/v1", kind="ScheduledBackup",
            metadata=kx.meta(f"{self.app}-backup", self.ns, self.app, "store"),
            spec={"schedule": f"0 {self.args.backups.schedule}", "backupOwnerReference": "self",
                  "cluster": {"name": self.app}},
            opts=pulumi.ResourceOptions(parent=self),
        )
