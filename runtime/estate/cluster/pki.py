"""The local cluster's certificate authorities, certificates, service-account key and kubeconfigs.

One cluster CA signs etcd's and the API server's serving certificates and every client certificate
(its key also signs the certificates the controller-manager issues); a separate front-proxy CA
backs the API server's ``--requestheader-*`` flags, as kubeadm lays it out. Keys are 0600 from the
first byte (``estate.local.files.write_private``); nothing is regenerated once it exists.
"""
from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from estate.local.files import write_private, write_public
from estate.local.pki import VALIDITY

SERVICE_IP = "10.96.0.1"  # first address of the service CIDR: the `kubernetes` Service
API_SANS = ("127.0.0.1", "localhost", SERVICE_IP, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class Client:
    """A client certificate: who the API server sees (user = CN, groups = O)."""

    file: str
    user: str
    groups: tuple[str, ...] = ()


# system:masters for the admin and kwok (which writes node, pod and volume status of every object);
# the controller-manager and scheduler get exactly their built-in RBAC roles.
CLIENTS = (
    Client("admin", "estate-admin", ("system:masters",)),
    Client("controller-manager", "system:kube-controller-manager"),
    Client("scheduler", "system:kube-scheduler"),
    Client("kwok", "kwok-controller", ("system:masters",)),
    Client("apiserver-etcd-client", "kube-apiserver-etcd-client"),
)
KUBECONFIG_CLIENTS = ("admin", "controller-manager", "scheduler", "kwok")


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(cn: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)


class ClusterPKI:
    """Files under ``<workdir>/pki``: ``<name>.crt``/``<name>.key`` per certificate, ``sa.key``/``sa.pub``."""

    def __init__(self, directory: Path):
        self.dir = directory

    def crt(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    def _load(self, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert = x509.load_pem_x509_certificate(self.crt(name).read_bytes())
        key = serialization.load_pem_private_key(self.key(name).read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key

    def _ca(self, name: str, cn: str) -> None:
        if self.crt(name).exists() and self.key(name).exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now()).not_valid_after(_now() + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(self.key(name), _pem(key))
        write_public(self.crt(name), cert.public_bytes(serialization.Encoding.PEM))

    def _issue(self, ca: str, name: str, cn: str, groups: tuple[str, ...] = (), sans: tuple[str, ...] = (),
               server: bool = False) -> None:
        if self.crt(name).exists() and self.key(name).exists():
            return
        ca_cert, ca_key = self._load(ca)
        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if server else [])
        builder = (
            x509.CertificateBuilder().subject_name(_name(cn, groups)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now()).not_valid_after(_now() + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if sans:
            names: list[x509.GeneralName] = []
            for host in sans:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        write_private(self.key(name), _pem(key))
        write_public(self.crt(name), builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))

    def ensure(self) -> None:
        """Create whatever is missing (idempotent)."""
        self._ca("ca", "estate local cluster CA")
        self._ca("front-proxy-ca", "estate local front-proxy CA")
        self._issue("ca", "etcd", "etcd", sans=("127.0.0.1", "localhost"), server=True)
        self._issue("ca", "apiserver", "kube-apiserver", sans=API_SANS, server=True)
        self._issue("ca", "kwok-server", "kwok", sans=("127.0.0.1", "localhost"), server=True)
        self._issue("front-proxy-ca", "front-proxy-client", "front-proxy-client")
        for c in CLIENTS:
            self._issue("ca", c.file, c.user, c.groups)
        if not (self.sa_key.exists() and self.sa_pub.exists()):
            key = ec.generate_private_key(ec.SECP256R1())
            write_private(self.sa_key, _pem(key))
            write_public(self.sa_pub, key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def kubeconfig(server: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, user: str, cluster: str = "estate-local") -> str:
    """A self-contained kubeconfig (certificates inline) for one user of the local cluster."""
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster,
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
    }, sort_keys=False)


def write_kubeconfigs(pki: ClusterPKI, server: str, directory: Path) -> dict[str, Path]:
    """``<directory>/<client>.kubeconfig`` for each component and the admin (0600: they hold keys)."""
    ca = pki.crt("ca").read_bytes()
    paths = {}
    for c in CLIENTS:
        if c.file in KUBECONFIG_CLIENTS:
            path = directory / f"{c.file}.kubeconfig"
            write_private(path, kubeconfig(server, ca, pki.crt(c.file).read_bytes(), pki.key(c.file).read_bytes(), c.user))
            paths[c.file] = path
    return paths
