"""The local estate's certificate authority and server certificate (``cryptography``)."""
from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from estate.local.files import write_private, write_public

VALIDITY = dt.timedelta(days=825)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "estate"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ensure_pki(tls_dir: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> None:
    """Create ca.crt/ca.key and server.crt/server.key under ``tls_dir`` unless they exist.

    One server certificate serves every local server (SANs: localhost and 127.0.0.1); it carries
    both serverAuth and clientAuth because NATS routes authenticate each other with it.
    """
    ca_crt, ca_key_path = tls_dir / "ca.crt", tls_dir / "ca.key"
    srv_crt, srv_key_path = tls_dir / "server.crt", tls_dir / "server.key"
    if all(p.exists() for p in (ca_crt, ca_key_path, srv_crt, srv_key_path)):
        return
    tls_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("estate local CA"))
        .issuer_name(_name("estate local CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _server_cert(ca, ca_key, key, hosts, now, now + VALIDITY)
    write_private(ca_key_path, _pem_key(ca_key))
    write_private(srv_key_path, _pem_key(key))
    write_public(ca_crt, ca.public_bytes(serialization.Encoding.PEM))
    write_public(srv_crt, cert.public_bytes(serialization.Encoding.PEM))


def _server_cert(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, key: ec.EllipticCurvePrivateKey,
                 hosts: tuple[str, ...], not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    return (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def issue_server_cert(tls_dir: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
                      validity: dt.timedelta = VALIDITY) -> tuple[bytes, bytes]:
    """A new server certificate and key (PEM) signed by the estate's CA in ``tls_dir``, as an operator
    re-issues one (another validity, other host names)."""
    ca = x509.load_pem_x509_certificate((tls_dir / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((tls_dir / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    cert = _server_cert(ca, ca_key, key, hosts, now, now + validity)
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)
