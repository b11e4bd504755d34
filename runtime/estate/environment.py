"""The typed model of an environment: what every harness command takes.

An environment names, for each store, its endpoints, the credentials of each role, the CA that
signs its TLS and the capabilities of the server behind it. The local estate produces one
(`estate.local`), a Pulumi stack's outputs produce another (`estate.stack`).
"""
from __future__ import annotations

import json
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from estate.durability import Durability
from estate.errors import EstateError, validation_message

StoreKind = Literal["postgres", "mongo", "nats", "minio"]


class Role(StrEnum):
    """Credential roles every store carries (least privilege from admin down)."""

    admin = "admin"
    app = "app"
    readonly = "readonly"


class Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    host: str
    port: int = Field(gt=0, lt=65536)
    role: Literal["primary", "standby", "member"] = "member"
    monitor_port: int | None = Field(default=None, description="HTTPS monitoring port, where the server has one")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Credential(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    password: SecretStr


class Store(BaseModel):
    """One store of the estate as a client sees it."""

    kind: StoreKind
    server: str = Field(description="the server software that answers, e.g. 'postgresql' or 'ferretdb'")
    version: str = ""
    endpoints: list[Endpoint]
    credentials: dict[Role, Credential]
    database: str = ""
    tls: bool = True
    # Feature name -> available on the running server. A False is reported, never hidden.
    capabilities: dict[str, bool] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def endpoint(self, role: str | None = None) -> Endpoint:
        for ep in self.endpoints:
            if role is None or ep.role == role:
                return ep
        raise EstateError(f"{self.kind}: no endpoint with role {role!r}")

    def credential(self, role: Role | str) -> Credential:
        try:
            return self.credentials[Role(role)]
        except (KeyError, ValueError):
            raise EstateError(f"{self.kind}: no credentials for role {role!r}") from None

    def lacks(self) -> list[str]:
        return sorted(name for name, ok in self.capabilities.items() if not ok)


class BackupPolicy(BaseModel):
    """How often the environment is backed up, so how old its newest complete backup may be (the RPO)."""

    model_config = ConfigDict(frozen=True)

    schedule: str = Field(description="when backups run, as people read it, e.g. a cron line or 'hourly'")
    interval: timedelta = Field(gt=timedelta(0), description="time between two scheduled backups")
    margin: timedelta = Field(default=timedelta(minutes=15), ge=timedelta(0),
                              description="how late a scheduled backup may complete")
    bucket: str = Field(default="estate-backups", description="where `estate backup --upload` stores them")

    @property
    def rpo(self) -> timedelta:
        return self.interval + self.margin


class Environment(BaseModel):
    """Endpoints, credentials, CA and capabilities of every store in one environment."""

    name: str
    ca_file: Path
    stores: dict[StoreKind, Store]
    durability: Durability = Field(
        default_factory=Durability, description="what each store must have for durability (checked by verify)"
    )
    backups: BackupPolicy | None = Field(default=None, description="the declared backup schedule and RPO")
    workdir: Path | None = Field(default=None, description="the local estate's work dir; None elsewhere")

    def store(self, kind: StoreKind) -> Store:
        try:
            return self.stores[kind]
        except KeyError:
            raise EstateError(f"environment {self.name!r} has no {kind} store") from None

    # --- client-facing connection strings -------------------------------------------------

    def postgres_url(self, role: Role | str = Role.app, endpoint: str = "primary") -> str:
        pg = self.store("postgres")
        cred, ep = pg.credential(role), pg.endpoint(endpoint)
        return (
            f"postgresql://{quote(cred.username)}:{quote(cred.password.get_secret_value(), safe='')}"
            f"@{ep.host}:{ep.port}/{pg.database}?sslmode=verify-full&sslrootcert={quote(str(self.ca_file))}"
        )

    def mongo_uri(self, role: Role | str = Role.app) -> str:
        mg = self.store("mongo")
        cred = mg.credential(role)
        hosts = ",".join(ep.address for ep in mg.endpoints)
        params = {"tls": "true", "tlsCAFile": str(self.ca_file), "authSource": "admin"}
        if mg.capabilities.get("replica_set"):
            params["replicaSet"] = "rs0"
            params["w"] = "majority"
            params["journal"] = "true"
        params["authMechanism"] = "SCRAM-SHA-256"
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return (
            f"mongodb://{quote(cred.username, safe='')}:{quote(cred.password.get_secret_value(), safe='')}"
            f"@{hosts}/{mg.database}?{query}"
        )

    def nats_urls(self, role: Role | str = Role.app, with_credentials: bool = True) -> list[str]:
        nt = self.store("nats")
        cred = nt.credential(role)
        auth = f"{quote(cred.username, safe='')}:{quote(cred.password.get_secret_value(), safe='')}@" if with_credentials else ""
        return [f"tls://{auth}{ep.address}" for ep in nt.endpoints]

    def exports(self) -> dict[str, str]:
        """The shell variables `estate env` prints for other tools."""
        out = {"ESTATE_ENV": self.name, "ESTATE_CA_FILE": str(self.ca_file)}
        if "postgres" in self.stores:
            out["DATABASE_URL"] = self.postgres_url(Role.app, "primary")
            if any(ep.role == "standby" for ep in self.stores["postgres"].endpoints):
                out["DATABASE_STANDBY_URL"] = self.postgres_url(Role.readonly, "standby")
            out["DATABASE_ADMIN_URL"] = self.postgres_url(Role.admin, "primary")
        if "mongo" in self.stores:
            out["MONGODB_URI"] = self.mongo_uri(Role.app)
        if "nats" in self.stores:
            out["NATS_URL"] = ",".join(self.nats_urls(Role.app))
        if "minio" in self.stores:
            mn = self.stores["minio"]
            cred = mn.credential(Role.app)
            out["MINIO_ENDPOINT"] = mn.endpoint().address
            out["MINIO_ACCESS_KEY"] = cred.username
            out["MINIO_SECRET_KEY"] = cred.password.get_secret_value()
            out["MINIO_SECURE"] = "true"
        return out

    # --- persistence -------------------------------------------------------------------------

    def dump_json(self) -> str:
        """The whole model, secrets included: only ever written to 0600 files."""
        data = self.model_dump(mode="json")
        for kind, store in self.stores.items():
            for role, cred in store.credentials.items():
                data["stores"][kind]["credentials"][role.value]["password"] = cred.password.get_secret_value()
        return json.dumps(data, indent=2)

    @classmethod
    def load(cls, path: Path) -> "Environment":
        try:
            return cls.model_validate_json(path.read_text())
        except FileNotFoundError:
            raise EstateError(f"no environment file at {path}") from None
        except ValidationError as exc:
            raise EstateError(f"malformed environment file {path}: {validation_message(exc)}") from None
