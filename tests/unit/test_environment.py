"""The environment model: connection strings, exports, capabilities, loading bad files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from estate.environment import Environment, Role
from estate.errors import EstateError


def make_env(tmp_path: Path, mongo_caps: dict | None = None) -> Environment:
    cred = lambda u, p: {"username": u, "password": p}  # noqa: E731
    creds = {"admin": cred("admin", "a/b@c"), "app": cred("app", "p:w"), "readonly": cred("ro", "r")}
    return Environment.model_validate({
        "name": "t", "ca_file": str(tmp_path / "ca.crt"),
        "stores": {
            "postgres": {"kind": "postgres", "server": "postgresql", "database": "estate", "credentials": creds,
                         "endpoints": [{"name": "p", "host": "db", "port": 5432, "role": "primary"},
                                       {"name": "s", "host": "db2", "port": 5433, "role": "standby"}]},
            "mongo": {"kind": "mongo", "server": "ferretdb", "database": "admin", "credentials": creds,
                      "capabilities": mongo_caps or {"replica_set": False, "ttl_indexes": False},
                      "endpoints": [{"name": "m", "host": "mg", "port": 27017}]},
            "nats": {"kind": "nats", "server": "nats-server", "credentials": creds,
                     "endpoints": [{"name": f"n{i}", "host": f"n{i}", "port": 4222} for i in range(3)]},
            "minio": {"kind": "minio", "server": "minio", "credentials": creds,
                      "endpoints": [{"name": "o", "host": "s3", "port": 9000}]},
        },
    })


def test_postgres_url_quotes_password_and_verifies_full(tmp_path: Path) -> None:
    url = make_env(tmp_path).postgres_url(Role.admin)
    assert url.startswith("postgresql://admin:a%2Fb%40c@db:5432/estate?")
    assert "sslmode=verify-full" in url and "sslrootcert=" in url


def test_standby_url_uses_standby_endpoint(tmp_path: Path) -> None:
    assert "@db2:5433/" in make_env(tmp_path).postgres_url(Role.readonly, "standby")


def test_mongo_uri_adds_replica_set_and_majority_only_when_capable(tmp_path: Path) -> None:
    assert "replicaSet" not in make_env(tmp_path).mongo_uri()
    uri = make_env(tmp_path, {"replica_set": True}).mongo_uri()
    assert "replicaSet=rs0" in uri and "w=majority" in uri and "journal=true" in uri


def test_nats_urls_list_every_member(tmp_path: Path) -> None:
    urls = make_env(tmp_path).nats_urls(Role.app)
    assert urls == [f"tls://app:p%3Aw@n{i}:4222" for i in range(3)]


def test_exports_cover_what_tools_need(tmp_path: Path) -> None:
    ex = make_env(tmp_path).exports()
    for key in ("ESTATE_CA_FILE", "DATABASE_URL", "DATABASE_STANDBY_URL", "MONGODB_URI", "NATS_URL",
                "MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY"):
        assert ex[key]
    assert ex["MINIO_ENDPOINT"] == "s3:9000"


def test_lacks_lists_missing_capabilities(tmp_path: Path) -> None:
    assert make_env(tmp_path).store("mongo").lacks() == ["replica_set", "ttl_indexes"]


def test_secrets_hidden_in_repr_but_kept_in_dump(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert "p:w" not in repr(env)
    assert json.loads(env.dump_json())["stores"]["postgres"]["credentials"]["app"]["password"] == "p:w"


def test_dump_and_load_roundtrip(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    path = tmp_path / "env.json"
    path.write_text(env.dump_json())
    assert Environment.load(path) == env


def test_malformed_file_names_the_key(tmp_path: Path) -> None:
    data = json.loads(make_env(tmp_path).dump_json())
    data["stores"]["nats"]["endpoints"][0]["port"] = "not-a-port"
    path = tmp_path / "env.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EstateError, match=r"stores\.nats\.endpoints\.0\.port"):
        Environment.load(path)


def test_missing_store_and_role_are_clear_errors(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    del env.stores["minio"]
    with pytest.raises(EstateError, match="no minio store"):
        env.store("minio")
    with pytest.raises(EstateError, match="no credentials for role 'root'"):
        env.store("postgres").credential("root")
