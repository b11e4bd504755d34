"""Generated credentials (pulumi_random) kept in Kubernetes Secrets; nothing here is ever a literal."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from infra import k8s as kx

ROLES = ("admin", "app", "readonly")


class StoreCredentials(pulumi.ComponentResource):
    """Passwords for the admin, app and readonly roles of one store, plus any extra generated keys.

    The Secret `<store>-credentials` holds `<role>-username` and `<role>-password` for each role.
    """

    def __init__(self, name: str, store: str, namespace: str, extra_roles: tuple[str, ...] = (),
                 protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:StoreCredentials", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Replacing a password locks clients out of data that outlives it: protected where the stack asks.
        generated = pulumi.ResourceOptions(parent=self, protect=protect)
        self.store = store
        self.secret_name = f"{store}-credentials"
        self.usernames = {role: f"estate_{role}" for role in (*ROLES, *extra_roles)}
        self.passwords: dict[str, pulumi.Output[str]] = {
            role: random.RandomPassword(f"{name}-{role}", length=32, special=False, opts=generated).result
            for role in self.usernames
        }
        data: dict[str, pulumi.Input[str]] = {}
        for role, user in self.usernames.items():
            data[f"{role}-username"] = user
            data[f"{role}-password"] = self.passwords[role]
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=kx.meta(self.secret_name, namespace, store, "store"),
            type="Opaque",
            string_data=pulumi.Output.secret(data),
            opts=child,
        )
        self.register_outputs({"secret": self.secret_name})

    def key(self, role: str, field: str = "password") -> str:
        return f"{role}-{field}"


def generated_key_secret(parent: pulumi.Resource, name: str, namespace: str, app: str, key: str,
                         length: int, prefix: str = "", protect: bool = False) -> str:
    """A Secret with one random key (`RandomBytes`, base64) such as a keyFile or a KMS master key;
    `protect` where losing it loses data (the KMS key encrypts every object)."""
    raw = random.RandomBytes(f"{parent.pulumi_resource_name}-{name}-bytes", length=length,
                             opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    k8s.core.v1.Secret(
        f"{parent.pulumi_resource_name}-{name}",
        metadata=kx.meta(name, namespace, app, "store"),
        type="Opaque",
        string_data=pulumi.Output.secret(raw.base64.apply(lambda b: {key: f"{prefix}{b}"})),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return name
