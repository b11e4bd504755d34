"""NATS JetStream: a StatefulSet cluster (3 in HA stacks) with file storage on volumes, TLS on client and
route ports, accounts with generated passwords, and `sync_interval: always` (durability first: the lazy
default can lose acknowledged writes, Jepsen 2025)."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import k8s as kx
from infra.stores.base import ClientView, Store, StoreArgs

CLIENT, ROUTE, MONITOR = 4222, 6222, 8222


def nats_conf(routes: list[str], max_file: str) -> str:
    cluster = ""
    if len(routes) > 1:
        joined = "\n".join(f"    nats-route://{h}:{ROUTE}" for h in routes)
        cluster = f"""
cluster {{
  name: estate
  port: {ROUTE}
  routes: [
{joined}
  ]
  tls {{ cert_file: /etc/estate/tls/tls.crt, key_file: /etc/estate/tls/tls.key, ca_file: /etc/estate/tls/ca.crt, verify: true }}
}}"""
    return f"""server_name: $POD_NAME
port: {CLIENT}
https_port: {MONITOR}
tls {{ cert_file: /etc/estate/tls/tls.crt, key_file: /etc/estate/tls/tls.key, ca_file: /etc/estate/tls/ca.crt }}
jetstream {{
  store_dir: /data
  max_file_store: {max_file}
  sync_interval: always
}}
accounts {{
  ESTATE {{
    jetstream: enabled
    users: [
      {{ user: estate_admin, password: $ADMIN_PASSWORD }}
      {{ user: estate_app, password: $APP_PASSWORD }}
      {{ user: estate_readonly, password: $READONLY_PASSWORD, permissions: {{ publish: {{ allow: ["$JS.API.INFO", "$JS.API.STREAM.INFO.>", "$JS.API.STREAM.MSG.GET.>", "$JS.API.CONSUMER.>", "$JS.ACK.>", "_INBOX.>"] }} }} }}
    ]
  }}
  SYS {{ users: [ {{ user: estate_system, password: $ADMIN_PASSWORD }} ] }}
}}
system_account: SYS
{cluster}
"""


class Nats(Store):
    """The THE0_EVENTS broker; streams and consumers are applied by `estate migrate`."""

    app = "nats"
    kind = "nats"

    def __init__(self, name: str, args: StoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Nats", name, args, opts)
        cfg = args.cfg
        tls_secret = self.tls_secret()
        hosts = self.member_hosts(cfg.replicas)
        k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=kx.meta(f"{self.app}-config", self.ns, self.app, "store"),
            data={"nats.conf": nats_conf(hosts, cfg.volume.size.replace("i", ""))},
            opts=pulumi.ResourceOptions(parent=self),
        )
        ports = {"client": CLIENT, "cluster": ROUTE, "monitor": MONITOR}
        kx.headless_service(self, self.app, self.ns, ports)
        kx.cluster_service(self, self.app, self.ns, {"client": CLIENT})
        sec = self.credentials.secret_name
        self.statefulset(
            [self.container(
                "nats",
                args=["--config", "/etc/estate/nats/nats.conf"],
                env=[
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    kx.secret_env("ADMIN_PASSWORD", sec, "admin-password"),
                    kx.secret_env("APP_PASSWORD", sec, "app-password"),
                    kx.secret_env("READONLY_PASSWORD", sec, "readonly-password"),
                ],
                ports=[{"name": n, "containerPort": p} for n, p in ports.items()],
                readinessProbe={"httpGet": {"path": "/healthz?js-enabled-only=true", "port": MONITOR, "scheme": "HTTPS"},
                                "periodSeconds": 5},
                volumeMounts=[
                    {"name": "data", "mountPath": "/data"},
                    {"name": "config", "mountPath": "/etc/estate/nats", "readOnly": True},
                    kx.tls_mount(),
                ],
            )],
            [{"name": "config", "configMap": {"name": f"{self.app}-config"}}, kx.tls_volume(tls_secret)],
            [self.claim("data")],
        )
        endpoints = [{"name": f"{self.app}-{i}", "host": h, "port": CLIENT, "role": "member", "monitor_port": MONITOR}
                     for i, h in enumerate(hosts)]
        self.finish(ClientView("nats", "nats-server", CLIENT, endpoints, self.credentials, "", {
            "jetstream": True, "cluster": cfg.replicas >= 3, "sync_always": True,
        }))
