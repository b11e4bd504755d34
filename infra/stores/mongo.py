"""MongoDB: a replica set `rs0` (3 members in HA stacks) with keyFile auth between members, TLS required,
and majority journaled writes as the cluster default. A Job initiates the set and creates the users."""
from __future__ import annotations

import json

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.credentials import generated_key_secret
from infra.stores.base import ClientView, Store, StoreArgs

PORT = 27017
# Features of a mongod replica set that clients may rely on (the environment model's capability names;
# the local estate's FerretDB reports the same names as lacking).
MONGOD_CAPABILITIES = ("replica_set", "roles", "json_schema_validation", "ttl_indexes", "partial_indexes",
                       "time_series", "transactions", "change_streams", "atomic_updates")
DATABASES = ("bot_runner", "backtest_runner", "bot_scheduler", "bot_core")
MONGOD_UID = 999  # the mongo image's mongodb user; the pods run as it (infra.k8s.pod_security)
# mongod refuses a keyFile with any group or other permission. A Secret volume cannot give it one: with
# the pod's fsGroup the kubelet chowns its files to that group and ORs 0440 onto their mode
# (pkg/volume/volume_linux.go, roMask), so an init container copies the key into a memory-backed
# emptyDir as mongod's own user with mode 0400, which the kubelet never touches after the volume is set up.
KEYFILE_SECRET_DIR = "/etc/estate/keyfile-secret"
KEYFILE_DIR = "/etc/estate/keyfile"
KEYFILE = f"{KEYFILE_DIR}/keyfile"

INIT = """// Run by the init Job with mongosh against member 0; safe to run again.
const members = JSON.parse(process.env.MEMBERS);
try { rs.status(); } catch (e) {
  rs.initiate({_id: "rs0", members: members.map((h, i) => ({_id: i, host: h + ":27017", priority: i === 0 ? 2 : 1}))});
}
while (!db.hello().isWritablePrimary) { sleep(1000); }
const admin = db.getSiblingDB("admin");
admin.adminCommand({setDefaultRWConcern: 1, defaultWriteConcern: {w: "majority", j: true}});
const dbs = %s;
const users = {
  [process.env.APP_USER]: {pwd: process.env.APP_PASSWORD, roles: dbs.map(d => ({role: "readWrite", db: d}))},
  [process.env.READONLY_USER]: {pwd: process.env.READONLY_PASSWORD, roles: dbs.map(d => ({role: "read", db: d}))},
};
for (const [user, spec] of Object.entries(users)) {
  if (admin.getUser(user)) admin.updateUser(user, spec); else admin.createUser({user, ...spec});
}
""" % json.dumps(list(DATABASES))


class Mongo(Store):
    """MongoDB for the runtime services' three databases and the bot_core database."""

    app = "mongo"
    kind = "mongo"

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Mongo", name, args, opts)
        cfg = args.cfg
        tls_secret = self.tls_secret()
        keyfile = generated_key_secret(self, f"{self.app}-keyfile", self.ns, self.app, "keyfile", length=756,
                                       protect=args.protect)
        hosts = self.member_hosts(cfg.replicas)
        k8s.core.v1.ConfigMap(
            f"{name}-init",
            metadata=kx.meta(f"{self.app}-init", self.ns, self.app, "store"),
            data={"init.js": INIT},
            opts=pulumi.ResourceOptions(parent=self),
        )
        kx.headless_service(self, self.app, self.ns, {"mongo": PORT})
        sec = self.credentials.secret_name
        pem = "/etc/estate/pem/server.pem"
        self.statefulset(
            [self.container(
                "mongod",
                args=["--replSet", "rs0", "--bind_ip_all", "--auth", "--keyFile", KEYFILE,
                      "--tlsMode", "requireTLS", "--tlsCertificateKeyFile", pem,
                      "--tlsCAFile", "/etc/estate/tls/ca.crt", "--tlsAllowConnectionsWithoutCertificates"],
                env=[{"name": "MONGO_INITDB_ROOT_USERNAME", "value": self.credentials.usernames["admin"]},
                     kx.secret_env("MONGO_INITDB_ROOT_PASSWORD", sec, "admin-password")],
                ports=[{"name": "mongo", "containerPort": PORT}],
                volumeMounts=[
                    {"name": "data", "mountPath": "/data/db"},
                    {"name": "keyfile", "mountPath": "/etc/estate/keyfile", "readOnly": True},
                    {"name": "pem", "mountPath": "/etc/estate/pem", "readOnly": True},
                    kx.tls_mount(),
                ],
            )],
            [kx.tls_volume(tls_secret), {"name": "pem", "emptyDir": {"medium": "Memory"}},
             {"name": "keyfile-secret", "secret": {"secretName": keyfile, "defaultMode": 0o440}},
             {"name": "keyfile", "emptyDir": {"medium": "Memory"}}],
            [self.claim("data")],
            init_containers=[
                # mongod wants certificate and key in one PEM file.
                self.container(
                    "pem",
                    command=["/bin/sh", "-c", f"cat /etc/estate/tls/tls.crt /etc/estate/tls/tls.key > {pem} && chmod 0400 {pem}"],
                    volumeMounts=[kx.tls_mount(), {"name": "pem", "mountPath": "/etc/estate/pem"}],
                ),
                self.container(
                    "keyfile",
                    command=["install", "-m", "0400", "-o", str(MONGOD_UID), "-g", str(MONGOD_UID),
                             f"{KEYFILE_SECRET_DIR}/keyfile", KEYFILE],
                    volumeMounts=[{"name": "keyfile-secret", "mountPath": KEYFILE_SECRET_DIR, "readOnly": True},
                                  {"name": "keyfile", "mountPath": KEYFILE_DIR}],
                ),
            ],
        )
        self.setup_job("init", self.container(
            "init",
            command=["mongosh", "--quiet", "--tls", "--tlsCAFile", "/etc/estate/tls/ca.crt", "--host", hosts[0],
                     "-u", self.credentials.usernames["admin"], "-p", "$(ADMIN_PASSWORD)", "--authenticationDatabase", "admin",
                     "/etc/estate/init/init.js"],
            env=[
                {"name": "MEMBERS", "value": pulumi.Output.json_dumps(hosts)},
                kx.secret_env("ADMIN_PASSWORD", sec, "admin-password"),
                {"name": "APP_USER", "value": self.credentials.usernames["app"]},
                kx.secret_env("APP_PASSWORD", sec, "app-password"),
                {"name": "READONLY_USER", "value": self.credentials.usernames["readonly"]},
                kx.secret_env("READONLY_PASSWORD", sec, "readonly-password"),
            ],
            volumeMounts=[kx.tls_mount(), {"name": "init", "mountPath": "/etc/estate/init", "readOnly": True}],
        ), [kx.tls_volume(tls_secret), {"name": "init", "configMap": {"name": f"{self.app}-init"}}])
        endpoints = [{"name": f"{self.app}-{i}", "host": h, "port": PORT, "role": "primary" if i == 0 else "member"}
                     for i, h in enumerate(hosts)]
        self.finish(ClientView("mongo", "mongod", PORT, endpoints, self.credentials, "bot_runner",
                               {name: True for name in MONGOD_CAPABILITIES}))
