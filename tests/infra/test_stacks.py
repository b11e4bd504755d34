"""What each stack declares: replicas, volumes, backups, protection and the environment it exports."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from estate.environment import Environment
from estate.stack import environment_from_outputs
from infra.render import Rendering
from infra.config import STACKS

STORES = ("postgres", "mongo", "nats", "minio")


@pytest.mark.parametrize("stack,expected", [
    ("dev", {"postgres": 1, "mongo": 1, "nats": 1, "minio": 1}),
    ("staging", {"postgres": 3, "mongo": 3, "nats": 3, "minio": 4}),
    ("prod", {"postgres": 3, "mongo": 3, "nats": 3, "minio": 4}),
])
def test_store_replicas_per_stack(renderings: dict[str, Rendering], stack: str, expected: dict[str, int]) -> None:
    sets = renderings[stack].named("StatefulSet")
    assert {s: sets[s]["spec"]["replicas"] for s in STORES} == expected
    pdbs = set(renderings[stack].named("PodDisruptionBudget"))
    assert pdbs == (set(STORES) if stack != "dev" else set())


def test_dev_minio_is_still_erasure_coded_on_one_pod(renderings: dict[str, Rendering]) -> None:
    minio = renderings["dev"].named("StatefulSet")["minio"]
    assert len(minio["spec"]["volumeClaimTemplates"]) == 4
    assert minio["spec"]["template"]["spec"]["containers"][0]["args"][-1] == "/data{0...3}"
    env = {e["name"]: e.get("value") for e in minio["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MINIO_STORAGE_CLASS_STANDARD"] == "EC:2"


def test_prod_minio_is_distributed_over_its_pods(renderings: dict[str, Rendering]) -> None:
    args = renderings["prod"].named("StatefulSet")["minio"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-1] == "https://minio-{0...3}.minio-hl.estate-prod.svc.cluster.local/data{0...1}"


def _gi(size: str) -> float:
    return float(size[:-2]) * {"Mi": 1 / 1024, "Gi": 1, "Ti": 1024}[size[-2:]]


def test_volumes_and_limits_grow_from_dev_to_prod(renderings: dict[str, Rendering]) -> None:
    def sizes(stack: str) -> dict[str, float]:
        return {name: _gi(s["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"])
                for name, s in renderings[stack].named("StatefulSet").items()}

    dev, staging, prod = sizes("dev"), sizes("staging"), sizes("prod")
    assert all(dev[s] <= staging[s] < prod[s] for s in STORES)
    prod_pg = renderings["prod"].named("StatefulSet")["postgres"]["spec"]["template"]["spec"]["containers"][0]
    dev_pg = renderings["dev"].named("StatefulSet")["postgres"]["spec"]["template"]["spec"]["containers"][0]
    assert prod_pg["resources"]["limits"]["memory"] != dev_pg["resources"]["limits"]["memory"]


def test_synchronous_standby_only_in_ha_stacks(renderings: dict[str, Rendering]) -> None:
    for stack in STACKS:
        conf = renderings[stack].named("ConfigMap")["postgres-config"]["data"]["postgresql.conf"]
        assert ("synchronous_standby_names = 'ANY 1 (*)'" in conf) == (stack != "dev"), stack
        assert "fsync = on" in conf and "synchronous_commit = on" in conf and "archive_mode = on" in conf


def test_prod_backs_up_hourly_with_its_retention(renderings: dict[str, Rendering]) -> None:
    for stack in STACKS:
        jobs = renderings[stack].named("CronJob")
        # one checksummed backup of every store (estate backup); no per-store job calling tools the image lacks
        assert set(jobs) == {"estate-backup", "estate-restore-drill", "estate-verify"}
        assert (jobs["estate-backup"]["spec"]["schedule"] == "0 * * * *") == (stack == "prod")
        days = renderings[stack].config.backups.retention_days
        script = renderings[stack].named("ConfigMap")["minio-buckets"]["data"]["buckets.sh"]
        assert f"--expire-days {days} --noncurrent-expire-days {days} estate/estate-backups" in script


def test_estate_backups_are_uploaded_and_the_newest_is_restored(renderings: dict[str, Rendering]) -> None:
    for stack in STACKS:
        jobs = renderings[stack].named("CronJob")
        cfg = renderings[stack].config
        commands = {name: jobs[name]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
                    for name in ("estate-backup", "estate-restore-drill")}
        assert commands["estate-backup"][:4] == ["estate", "backup", "--env", "in-cluster"]
        assert commands["estate-backup"][-3:] == ["--upload", "--bucket", cfg.backups.bucket]
        assert commands["estate-restore-drill"] == ["estate", "restore", "--env", "in-cluster", "--latest-in", cfg.backups.bucket]
        assert jobs["estate-backup"]["spec"]["schedule"] == cfg.backups.schedule
        assert jobs["estate-restore-drill"]["spec"]["schedule"] == cfg.harness.restore_schedule


def test_prod_protects_stateful_resources_and_key_material(renderings: dict[str, Rendering]) -> None:
    for stack in STACKS:
        protected = {r.type.split(":")[-1] for r in renderings[stack].resources if r.protect}
        if stack == "prod":
            assert {"StatefulSet", "Namespace", "RandomPassword", "RandomBytes", "PrivateKey"} <= protected
            sets = [r for r in renderings[stack].resources if r.type.endswith(":StatefulSet")]
            assert sets and all(r.protect for r in sets)
        else:
            assert protected == set(), stack


def test_runtime_services_and_locust_come_from_config(renderings: dict[str, Rendering]) -> None:
    for stack in STACKS:
        deployments = renderings[stack].named("Deployment")
        cfg = renderings[stack].config
        for name, svc in cfg.services.items():
            assert deployments[name]["spec"]["replicas"] == svc.replicas
            assert deployments[name]["spec"]["template"]["spec"]["containers"][0]["image"] == svc.image
        assert deployments["locust-worker"]["spec"]["replicas"] == cfg.locust.workers == 0
        assert deployments["locust-master"]["spec"]["replicas"] == 1


def test_stack_output_is_the_environment_model(renderings: dict[str, Rendering], tmp_path) -> None:
    env = environment_from_outputs("prod", renderings["prod"].outputs, cache=tmp_path)
    assert isinstance(env, Environment)
    assert set(env.stores) == set(STORES)
    assert "@postgres-primary.estate-prod.svc.cluster.local:5432/the0_ai?sslmode=verify-full" in env.postgres_url()
    assert env.postgres_url("readonly", "standby").split("@")[1].startswith("postgres-replicas.estate-prod")
    assert "replicaSet=rs0" in env.mongo_uri() and "w=majority" in env.mongo_uri()
    assert len(env.nats_urls()) == 3
    assert env.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert env.store("mongo").lacks() == []
    # what verify holds the stack to: hourly backups (RPO 1 h + 30 min), durability from the config
    assert env.backups is not None and env.backups.rpo.total_seconds() == 3600 + 1800
    assert env.durability.postgres.synchronous_standby and env.durability.nats.stream_replicas == 3
    assert env.durability.minio.drives == 8 and env.durability.opt_in_unsafe == []  # 4 pods x 2 drives
    dev = environment_from_outputs("dev", renderings["dev"].outputs, cache=tmp_path)
    assert dev.backups.rpo.total_seconds() == 86400 + 1800  # 0 3 * * *
    assert not dev.durability.postgres.synchronous_standby and dev.durability.nats.stream_replicas == 1
    # every password is the generated one, never empty
    assert all(c.password.get_secret_value().startswith("generated-password-")
               for s in env.stores.values() for c in s.credentials.values())


def test_in_cluster_environment_file_loads(renderings: dict[str, Rendering]) -> None:
    secret = renderings["staging"].named("Secret")["estate-environment"]
    env = Environment.model_validate_json(secret["stringData"]["environment.json"])
    assert str(env.ca_file) == "/etc/estate/ca/ca.crt"
    assert env.store("nats").endpoints[0].host == "nats-0.nats-hl.estate-staging.svc.cluster.local"
    assert env.backups is not None and env.durability.postgres.synchronous_standby


def test_env_reads_a_stack_through_the_pulumi_cli(renderings: dict[str, Rendering], tmp_path) -> None:
    """`estate env --env prod` asks `pulumi stack output --json --show-secrets -s prod` (here a stand-in
    CLI that prints the mock render's outputs) and prints the stack's connection settings."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(renderings["prod"].outputs))
    calls = tmp_path / "calls"
    cli = tmp_path / "bin" / "pulumi"
    cli.parent.mkdir()
    cli.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncat {outputs}\n')
    cli.chmod(0o755)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "estate", "env", "--env", "prod"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{cli.parent}:{os.environ['PATH']}", "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert calls.read_text().split() == ["stack", "output", "--json", "--show-secrets", "--stack", "prod"]
    exports = dict(line.removeprefix("export ").split("=", 1) for line in proc.stdout.splitlines() if line.startswith("export "))
    assert "postgres-primary.estate-prod.svc.cluster.local:5432/the0_ai" in exports["DATABASE_URL"]
    assert "nats-2.nats-hl.estate-prod.svc.cluster.local:4222" in exports["NATS_URL"]
    assert (tmp_path / "estate" / "stacks" / "prod" / "ca.pem").read_text() == renderings["prod"].outputs["environment"]["ca_pem"]


def test_storage_class_names_are_scoped_by_a_prefix(render_changed) -> None:
    """StorageClasses are cluster-wide: a stack sharing a cluster names its own, and its claims use them."""
    rendering = render_changed("staging", lambda c: c.update({"estate:storage": {"namePrefix": "staging-"}}))
    classes = rendering.named("StorageClass")
    assert set(classes) == {"staging-fast-ssd", "staging-standard", "staging-cold"}
    claims = [t["spec"]["storageClassName"] for s in rendering.of_kind("StatefulSet")
              for t in s["spec"].get("volumeClaimTemplates", [])]
    assert claims and set(claims) <= set(classes)
    assert rendering.violations() == []


def test_a_bad_storage_prefix_names_the_key(render_changed) -> None:
    from infra.config import ConfigError

    with pytest.raises(ConfigError, match=r"estate:storage\.namePrefix"):
        render_changed("dev", lambda c: c.update({"estate:storage": {"namePrefix": "Dev_"}}))


def test_minio_app_user_gets_the_least_privilege_policy(renderings: dict[str, Rendering]) -> None:
    """The stacks attach the same `estate-app` policy the local estate uses, not `readwrite`."""
    from infra.stores.minio import APP_POLICY, app_policy

    for stack, rendering in renderings.items():
        data = rendering.named("ConfigMap")["minio-buckets"]["data"]
        assert json.loads(data[f"{APP_POLICY}.json"]) == app_policy(), stack
        script = data["buckets.sh"]
        assert f'mc admin policy attach estate {APP_POLICY} --user "$APP_USER"' in script
        assert 'readwrite --user "$APP_USER"' not in script


def test_images_this_repo_builds_and_their_pull_policy(renderings: dict[str, Rendering], render_changed) -> None:
    """PostgreSQL runs the image `estate image build` makes (pgBackRest archiving, not WAL-G, which no
    registry here serves); a stack whose node has the images imported sets imagePullPolicy Never."""
    for stack, rendering in renderings.items():
        pg = rendering.named("StatefulSet")["postgres"]["spec"]["template"]["spec"]["containers"][0]
        assert pg["image"] == "ghcr.io/the0/estate-postgres:0.1.0", stack
        assert {e["name"] for e in pg["env"]} >= {"PGBACKREST_REPO1_S3_BUCKET", "PGBACKREST_REPO1_S3_KEY_SECRET"}
        conf = rendering.named("ConfigMap")["postgres-config"]["data"]
        assert "archive_command = 'pgbackrest --stanza=estate archive-push %p'" in conf["postgresql.conf"]
        assert "stanza-create" in conf["20-archive.sh"]
    local = render_changed("dev", lambda c: c.update({"estate:imagePullPolicy": "Never"}))
    policies = {c.get("imagePullPolicy") for kind in ("StatefulSet", "Deployment", "CronJob")
                for o in local.of_kind(kind) for c in
                (o["spec"].get("jobTemplate", {}).get("spec", o["spec"])["template"]["spec"]["containers"])}
    assert policies == {"Never"}
