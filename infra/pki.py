"""The estate's CA and server certificates (pulumi_tls), each kept in a `kubernetes.io/tls` Secret."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from infra import k8s as kx

CA_VALIDITY_HOURS = 10 * 365 * 24
CERT_VALIDITY_HOURS = 365 * 24
RENEW_HOURS = 30 * 24


class Pki(pulumi.ComponentResource):
    """A private CA for one environment; `server_secret` issues a certificate for a store's DNS names."""

    def __init__(self, name: str, namespace: str, protect: bool = False, opts: pulumi.ResourceOptions | None = None):
        super().__init__("estate:index:Pki", name, None, opts)
        self.namespace = namespace
        child = pulumi.ResourceOptions(parent=self)
        # A new CA key would invalidate every certificate clients trust: protected where the stack asks.
        self.ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256",
                                     opts=pulumi.ResourceOptions(parent=self, protect=protect))
        self.ca_cert = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=self.ca_key.private_key_pem,
            is_ca_certificate=True,
            subject={"common_name": f"estate {namespace} CA", "organization": "estate"},
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            validity_period_hours=CA_VALIDITY_HOURS,
            opts=child,
        )
        self.ca_pem = self.ca_cert.cert_pem
        self.register_outputs({"ca_pem": self.ca_pem})

    def server_secret(self, app: str, dns_names: list[str], component: str = "store") -> str:
        """Issue a server+client certificate for `dns_names`; returns the name of its TLS Secret."""
        child = pulumi.ResourceOptions(parent=self)
        key = tls.PrivateKey(f"{self.pulumi_resource_name}-{app}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        csr = tls.CertRequest(
            f"{self.pulumi_resource_name}-{app}-csr",
            private_key_pem=key.private_key_pem,
            subject={"common_name": dns_names[0], "organization": "estate"},
            dns_names=dns_names,
            opts=child,
        )
        cert = tls.LocallySignedCert(
            f"{self.pulumi_resource_name}-{app}-cert",
            cert_request_pem=csr.cert_request_pem,
            ca_private_key_pem=self.ca_key.private_key_pem,
            ca_cert_pem=self.ca_cert.cert_pem,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            validity_period_hours=CERT_VALIDITY_HOURS,
            early_renewal_hours=RENEW_HOURS,
            opts=child,
        )
        secret_name = f"{app}-tls"
        k8s.core.v1.Secret(
            f"{self.pulumi_resource_name}-{app}-tls",
            metadata=kx.meta(secret_name, self.namespace, app, component),
            type="kubernetes.io/tls",
            string_data=pulumi.Output.secret(
                pulumi.Output.all(cert.cert_pem, key.private_key_pem, self.ca_cert.cert_pem).apply(
                    lambda v: {"tls.crt": v[0], "tls.key": v[1], "ca.crt": v[2]}
                )
            ),
            opts=child,
        )
        return secret_name
