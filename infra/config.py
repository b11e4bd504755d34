"""Typed stack configuration: what differs between dev, staging and prod, and nothing else.

Stack files (`stacks/Pulumi.<stack>.yaml`) hold keys `estate:<name>`; each is validated here with
unknown keys refused, so a typo or a wrong type fails with a message that names the key.
Secrets never live in stack config: every password, key and certificate is generated.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

PROJECT = "estate"
ROOT = Path(__file__).resolve().parent.parent
STACKS_DIR = ROOT / "stacks"
STACKS = ("dev", "staging", "prod")
SERVICE_NAMES = ("api", "ai-assistant", "bot-runner", "backtest-runner", "bot-scheduler", "security-analysis")
SEED_BUCKETS = ("custom-bots", "bot-code", "backtest-results", "ai-artifacts", "logs")


class ConfigError(ValueError):
    """Stack configuration that cannot be used; the message names the key."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Quantity(Model):
    cpu: str
    memory: str


class Resources(Model):
    """Requests and limits for one container; both are required on every container."""

    requests: Quantity
    limits: Quantity


class Volume(Model):
    size: str = Field(pattern=r"^[0-9]+(Mi|Gi|Ti)$")
    storage_class: Literal["fast-ssd", "standard", "cold"] = "standard"


class StorageClassConfig(Model):
    parameters: dict[str, str] = Field(default_factory=dict)
    encrypted: bool = True


class Storage(Model):
    """StorageClasses are cluster-scoped: stacks sharing one cluster give each a ``namePrefix``."""

    provisioner: str = "ebs.csi.aws.com"
    name_prefix: str = Field("", pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?-)?$")
    classes: dict[Literal["fast-ssd", "standard", "cold"], StorageClassConfig] = Field(
        default_factory=lambda: {
            "fast-ssd": StorageClassConfig(parameters={"type": "io2", "iopsPerGB": "50"}),
            "standard": StorageClassConfig(parameters={"type": "gp3"}),
            "cold": StorageClassConfig(parameters={"type": "sc1"}),
        }
    )

    def class_name(self, key: str) -> str:
        """The cluster-wide name of the StorageClass ``key`` (fast-ssd, standard, cold)."""
        return f"{self.name_prefix}{key}"


class StoreConfig(Model):
    replicas: int = Field(ge=1)
    image: str
    volume: Volume
    resources: Resources


class PostgresConfig(StoreConfig):
    mode: Literal["statefulset", "cloudnativepg"] = "statefulset"
    synchronous: bool = Field(default=False, description="synchronous streaming replication (HA stacks)")
    database: str = "the0_ai"


class MinioConfig(StoreConfig):
    mc_image: str = "minio/mc:RELEASE.2025-04-16T18-13-26Z"
    drives_per_pod: int = Field(default=1, ge=1)
    bucket_expiry_days: dict[str, int] = Field(
        default_factory=lambda: {"logs": 30, "backtest-results": 180}, description="lifecycle expiry per seed bucket"
    )

    @field_validator("bucket_expiry_days")
    @classmethod
    def _known_buckets(cls, expiry: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(expiry) - set(SEED_BUCKETS))
        if unknown:
            raise ValueError(f"names unknown buckets {unknown}; known: {list(SEED_BUCKETS)}")
        return expiry


class ServiceConfig(Model):
    image: str
    replicas: int = Field(ge=0)
    port: int = Field(default=8080, gt=0, lt=65536)
    resources: Resources


class Backups(Model):
    schedule: str = Field(description="cron schedule of the estate-backup CronJob (every store, one checksummed backup)")
    retention_days: int = Field(ge=1)
    bucket: str = "estate-backups"
    margin_minutes: int = Field(default=30, ge=0, description="how late a scheduled backup may complete (RPO slack)")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        if not croniter.is_valid(schedule):
            raise ValueError(f"not a cron schedule: {schedule!r}")
        return schedule

    @property
    def interval_seconds(self) -> int:
        """The longest time between two scheduled backups over a week (the RPO before the margin)."""
        it = croniter(self.schedule, datetime(2026, 1, 5, tzinfo=timezone.utc))  # a Monday
        times = [it.get_next(datetime) for _ in range(2)]
        while times[-1] < times[0] + timedelta(days=7):
            times.append(it.get_next(datetime))
        return int(max((b - a).total_seconds() for a, b in zip(times, times[1:])))


class Harness(Model):
    image: str
    verify_schedule: str = "30 2 * * *"
    restore_schedule: str = Field("0 5 * * *", description="when the newest uploaded estate backup is restored and compared")
    resources: Resources


class Locust(Model):
    image: str
    workers: int = Field(default=0, ge=0)
    resources: Resources


class StackConfig(Model):
    """Everything a stack may set. Environments differ by these values only."""

    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    kubernetes_version: str = Field(pattern=r"^1\.[0-9]+$")
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = Field(
        "IfNotPresent", description="Never on a node whose images were imported (`estate image save`), not pulled")
    ha: bool
    protect: bool = False
    storage: Storage = Field(default_factory=Storage)
    postgres: PostgresConfig
    mongo: StoreConfig
    nats: StoreConfig
    minio: MinioConfig
    services: dict[str, ServiceConfig]
    backups: Backups
    harness: Harness
    locust: Locust

    @field_validator("services")
    @classmethod
    def _every_service(cls, services: dict[str, ServiceConfig]) -> dict[str, ServiceConfig]:
        missing = [s for s in SERVICE_NAMES if s not in services]
        unknown = [s for s in services if s not in SERVICE_NAMES]
        if missing or unknown:
            raise ValueError(f"services must name exactly {list(SERVICE_NAMES)} (missing {missing}, unknown {unknown})")
        return services


def _key_path(loc: tuple[Any, ...]) -> str:
    head, *rest = [str(p) for p in loc] or ["(stack)"]
    return f"{PROJECT}:{head}" + "".join(f".{p}" for p in rest)


def validate(raw: dict[str, Any], source: str) -> StackConfig:
    """Validate a `{key: value}` map (keys without the `estate:` prefix); errors name the key."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "missing required value"
        elif err["type"] == "extra_forbidden":
            msg = "unknown key"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{source}: {_key_path(loc)}: {msg}{more}") from None


def stack_file(stack: str) -> Path:
    return STACKS_DIR / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `estate:` keys of a stack settings file, prefix removed. `secure:` values are refused here:
    this project generates its secrets and keeps none in stack config."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"no stack file {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    entries = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: no 'config:' map")
    raw: dict[str, Any] = {}
    for key, value in entries.items():
        project, _, name = str(key).partition(":")
        if not name:
            raise ConfigError(f"{path}: {key}: keys are '<project>:<name>'")
        if project != PROJECT:
            continue  # provider settings such as kubernetes:context belong to the CLI
        if isinstance(value, dict) and "secure" in value:
            raise ConfigError(f"{path}: {key}: secrets are generated by the program, not kept in stack config")
        raw[name] = value
    return raw


def load_stack(stack: str, path: Path | None = None) -> StackConfig:
    path = path or stack_file(stack)
    return validate(read_stack_file(path), str(path))


def from_pulumi() -> StackConfig:
    """The running program's config, read through Pulumi (CLI or mocks)."""
    import pulumi

    cfg = pulumi.Config(PROJECT)
    raw: dict[str, Any] = {}
    for name in StackConfig.model_fields:
        alias = to_camel(name)
        value = cfg.get(alias)
        if value is None:
            continue
        # The CLI hands objects as JSON and scalars as strings; pydantic converts "true" and "3".
        raw[alias] = json.loads(value) if value[:1] in "{[" else value
    unknown = sorted(_configured_keys() - {to_camel(n) for n in StackConfig.model_fields})
    for key in unknown:
        raw[key] = None  # let validation name it as an unknown key
    try:
        return validate(raw, f"stack {pulumi.get_stack()}")
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def _configured_keys() -> set[str]:
    """Every `estate:` key the engine passed: set in the runtime, or in PULUMI_CONFIG as the CLI passes it."""
    from pulumi.runtime.config import CONFIG, get_config_env

    return {k.partition(":")[2] for k in (*CONFIG.get(), *get_config_env()) if k.startswith(f"{PROJECT}:")}


def as_pulumi_config(raw: dict[str, Any]) -> dict[str, str]:
    """Stack-file values in the form the CLI hands a program: `estate:key` -> string (objects as JSON)."""
    return {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
