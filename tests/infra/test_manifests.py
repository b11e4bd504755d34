"""Every rendered object is valid Kubernetes (offline OpenAPI schemas of the stack's version), secrets
are redacted on disk, TLS is wired to the stack's CA, and the network allows only the needed flows."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from infra.config import STACKS
from infra.render import REDACTED, Rendering, write

ROOT = Path(__file__).resolve().parents[2]
STORES = ("postgres", "mongo", "nats", "minio")


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_validates_against_the_kubernetes_schema(renderings: dict[str, Rendering], stack: str,
                                                              tmp_path: Path) -> None:
    version = renderings[stack].config.kubernetes_version
    files = write(renderings[stack], tmp_path)
    assert len(files) == len(renderings[stack].objects()) > 60
    kinds = set()
    for path in files:
        obj = yaml.safe_load(path.read_text())
        assert kubernetes_validate.validate(obj, version, strict=True) == version
        kinds.add(obj["kind"])
    assert {"Namespace", "StorageClass", "StatefulSet", "Deployment", "Service", "Secret", "ConfigMap", "CronJob",
            "Job", "NetworkPolicy"} <= kinds


def test_the_validator_rejects_a_broken_object(renderings: dict[str, Rendering]) -> None:
    sts = renderings["prod"].named("StatefulSet")["nats"]
    sts["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, "1.31", strict=True)


def test_cloudnativepg_mode_declares_a_cluster(render_changed) -> None:
    """The operator path: a CNPG Cluster with sync replicas, TLS from the stack's CA, WAL to the backup bucket.
    kubernetes-validate has no CRD schemas, so the Cluster is checked by its fields; every core object still
    validates against the Kubernetes schema."""
    rendering = render_changed("prod", lambda c: c["estate:postgres"].update(mode="cloudnativepg"))
    assert rendering.violations() == []
    cluster = rendering.named("Cluster")["postgres"]
    spec = cluster["spec"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert spec["instances"] == 3 and spec["postgresql"]["synchronous"] == {"method": "any", "number": 1}
    assert spec["postgresql"]["pg_hba"] == ["hostssl all all all scram-sha-256"]
    assert spec["certificates"]["serverTLSSecret"] == "postgres-tls"
    assert spec["backup"]["barmanObjectStore"]["destinationPath"] == "s3://estate-backups/postgres"
    assert spec["backup"]["retentionPolicy"] == "30d"
    assert "postgres" not in rendering.named("StatefulSet")
    for obj in (o.manifest() for o in rendering.objects()):
        if "cnpg" not in obj["apiVersion"]:
            kubernetes_validate.validate(obj, "1.31", strict=True)


def test_render_cli_writes_redacted_files(tmp_path: Path, renderings: dict[str, Rendering]) -> None:
    proc = subprocess.run([sys.executable, "-m", "estate", "render", "--stack", "prod", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "prod: every policy holds" in proc.stdout
    files = sorted((tmp_path / "1-manifest").glob("*.yaml"))
    assert len(files) == len(renderings["prod"].objects())
    text = "\n".join(f.read_text() for f in files)
    for what in ("password", "bytes", "key"):  # no generated password or key reaches the disk (the CA cert is public)
        assert f"generated-{what}-" not in text
    secret = yaml.safe_load((tmp_path / "1-manifest" / "v1-secret-estate-prod-postgres-credentials.yaml").read_text())
    assert set(secret["stringData"].values()) == {REDACTED}
    assert (tmp_path / "1-manifest" / "apps_v1-statefulset-estate-prod-postgres.yaml").exists()


@pytest.mark.parametrize("stack", STACKS)
def test_every_secret_value_is_generated_and_every_password_env_is_a_reference(renderings, stack) -> None:
    rendering = renderings[stack]
    types = {r.urn: r.type for r in rendering.resources}
    secrets = [r for r in rendering.objects() if r.props.get("kind") == "Secret"]
    assert len(secrets) >= 10
    for reg in secrets:
        assert rendering.resources and reg.props["stringData"].get("4dabf18193072939515e22adb298388d"), reg.name
        assert any(types[u].startswith(("random:", "tls:")) for u in reg.dependencies["stringData"]), reg.name
    for kind in ("StatefulSet", "Deployment", "CronJob", "Job"):
        for obj in rendering.of_kind(kind):
            for line in re.findall(r"\{'name': '[A-Z_]*(?:PASSWORD|SECRET_KEY|ACCESS_KEY)', '[a-zA-Z]+", str(obj)):
                assert line.endswith("'valueFrom"), (kind, obj["metadata"]["name"], line)


def test_stores_serve_tls_from_the_stack_ca(renderings: dict[str, Rendering]) -> None:
    rendering = renderings["staging"]
    types = {r.urn: r.type for r in rendering.resources}
    tls_secrets = {r.props["metadata"]["name"]: r for r in rendering.objects()
                   if r.props.get("kind") == "Secret" and r.props.get("type") == "kubernetes.io/tls"}
    assert set(tls_secrets) == {f"{s}-tls" for s in STORES}
    for reg in tls_secrets.values():  # signed by the CA: the cert and the CA cert feed the secret
        deps = {types[u].split(":")[-1] for u in reg.dependencies["stringData"]}
        assert {"LocallySignedCert", "SelfSignedCert", "PrivateKey"} <= deps
    sets, maps = rendering.named("StatefulSet"), rendering.named("ConfigMap")
    for store in STORES:
        volumes = sets[store]["spec"]["template"]["spec"]["volumes"]
        assert f"{store}-tls" in {(v.get("secret") or {}).get("secretName") for v in volumes}, store
    hba = maps["postgres-config"]["data"]["pg_hba.conf"]
    assert [ln.split()[0] for ln in hba.splitlines() if ln and not ln.startswith("#")] == ["local", "hostssl", "hostssl"]
    assert "--tlsMode requireTLS" in " ".join(sets["mongo"]["spec"]["template"]["spec"]["containers"][0]["args"])
    nats = maps["nats-config"]["data"]["nats.conf"]
    assert "sync_interval: always" in nats and nats.count("tls {") == 2 and "nats-route://nats-2.nats-hl" in nats
    services = rendering.named("Service")
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in services.values())
    ca = rendering.named("ConfigMap")["estate-ca"]["data"]["ca.crt"]
    assert ca == rendering.outputs["environment"]["ca_pem"]


def _allowed_stores(rendering: Rendering, pod_labels: dict[str, str]) -> set[str]:
    """Stores a pod may reach by the egress NetworkPolicies that select it."""
    reach = set()
    for pol in rendering.of_kind("NetworkPolicy"):
        match = pol["spec"]["podSelector"].get("matchLabels", {})
        if not match or any(pod_labels.get(k) != v for k, v in match.items()):
            continue
        for rule in pol["spec"].get("egress", []):
            for peer in rule.get("to", []):
                name = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                if name in STORES:
                    reach.add(name)
    return reach


def test_network_allows_only_needed_flows(renderings: dict[str, Rendering]) -> None:
    rendering = renderings["prod"]
    deny = rendering.named("NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"policyTypes": ["Ingress", "Egress"], "podSelector": {}}
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in rendering.named("Deployment").items()}
    assert _allowed_stores(rendering, labels["ai-assistant"]) == {"postgres", "minio"}
    assert _allowed_stores(rendering, labels["bot-runner"]) == {"mongo", "nats", "minio"}
    assert _allowed_stores(rendering, labels["bot-scheduler"]) == {"mongo", "nats"}
    assert _allowed_stores(rendering, labels["api"]) == {"mongo", "nats", "minio"}
    verify = rendering.named("CronJob")["estate-verify"]["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert _allowed_stores(rendering, verify) == set(STORES)
    pg_ingress = rendering.named("NetworkPolicy")["postgres-members"]["spec"]["ingress"]
    assert pg_ingress[1] == {"from": [{"podSelector": {"matchLabels": {"estate.dev/client-postgres": "true"}}}],
                             "ports": [{"protocol": "TCP", "port": 5432}]}


@pytest.mark.parametrize("stack", STACKS)
def test_mongod_reads_a_keyfile_copy_it_owns_with_mode_0400(renderings: dict[str, Rendering], stack: str) -> None:
    # A Secret volume's files get the pod's fsGroup and 0440 ORed onto their mode (kubelet's roMask), which
    # mongod refuses ("permissions on … are too open"): an init container copies the key into an emptyDir.
    pod = renderings[stack].named("StatefulSet")["mongo"]["spec"]["template"]["spec"]
    mongod = next(c for c in pod["containers"] if c["name"] == "mongod")
    keyfile = mongod["args"][mongod["args"].index("--keyFile") + 1]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounted = {m["mountPath"]: m["name"] for m in mongod["volumeMounts"]}
    directory, name = keyfile.rsplit("/", 1)
    assert volumes[mounted[directory]] == {"name": mounted[directory], "emptyDir": {"medium": "Memory"}}
    assert "mongo-keyfile" not in {volumes[v]["secret"]["secretName"] for v in mounted.values() if "secret" in volumes.get(v, {})}
    copier = next(c for c in pod["initContainers"] if keyfile in c["command"])
    source = copier["command"][-2]
    assert copier["command"] == ["install", "-m", "0400", "-o", "999", "-g", "999", source, keyfile]
    sources = {m["mountPath"]: m["name"] for m in copier["volumeMounts"]}
    assert sources[directory] == mounted[directory]
    secret = volumes[sources[source.rsplit("/", 1)[0]]]["secret"]
    assert secret["secretName"] == "mongo-keyfile" and name in source
    # the copy's owner is mongod's uid: the pod runs every container as 999 and neither container overrides it
    assert pod["securityContext"]["runAsUser"] == 999 and pod["securityContext"]["runAsNonRoot"]
    assert all("runAsUser" not in c["securityContext"] for c in (mongod, copier))
