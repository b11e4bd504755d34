"""The local cluster's PKI and kubeconfigs: who each certificate names, file modes, idempotence."""
from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from estate.cluster.pki import CLIENTS, ClusterPKI, write_kubeconfigs


def _cert(pki: ClusterPKI, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pki.crt(name).read_bytes())


def test_pki_names_users_and_groups_and_keeps_keys_private(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path / "pki")
    pki.ensure()
    ca = _cert(pki, "ca")
    admin = _cert(pki, "admin")
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "estate-admin"
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    sched = _cert(pki, "scheduler")
    assert sched.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-scheduler"
    assert not sched.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    for c in CLIENTS:
        _cert(pki, c.file).verify_directly_issued_by(ca)
    _cert(pki, "front-proxy-client").verify_directly_issued_by(_cert(pki, "front-proxy-ca"))
    sans = _cert(pki, "apiserver").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    keys = list(pki.dir.glob("*.key"))
    assert len(keys) >= len(CLIENTS) + 4
    for key in keys:
        assert key.stat().st_mode & 0o777 == 0o600, key
    assert pki.crt("ca").stat().st_mode & 0o777 == 0o644


def test_pki_is_created_once(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path / "pki")
    pki.ensure()
    before = {p.name: p.read_bytes() for p in pki.dir.iterdir()}
    pki.ensure()
    assert {p.name: p.read_bytes() for p in pki.dir.iterdir()} == before


def test_kubeconfigs_are_self_contained_and_0600(tmp_path: Path) -> None:
    pki = ClusterPKI(tmp_path / "pki")
    pki.ensure()
    paths = write_kubeconfigs(pki, "https://127.0.0.1:25443", tmp_path / "kubeconfigs")
    assert set(paths) == {"admin", "controller-manager", "scheduler", "kwok"}
    for name, path in paths.items():
        assert path.stat().st_mode & 0o777 == 0o600
        doc = yaml.safe_load(path.read_text())
        assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:25443"
        assert base64.b64decode(doc["clusters"][0]["cluster"]["certificate-authority-data"]) == pki.crt("ca").read_bytes()
        assert base64.b64decode(doc["users"][0]["user"]["client-certificate-data"]) == pki.crt(name).read_bytes()
