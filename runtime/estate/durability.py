"""What an environment declares about durability: the settings each store must have, and which of them
the environment accepts below that (an explicit opt-in, reported as a warning rather than a failure).

The local estate produces one (``estate.local``), a stack exports one (``infra.composition.durability``). The
older free-text form (``{"postgres": "fsync=on, ..."}``) still loads: its text becomes ``notes`` and
every store keeps the safe defaults below.
"""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

STORES = ("postgres", "mongo", "nats", "minio")
# synchronous_commit from weakest to strongest
COMMIT_LEVELS = ("off", "local", "remote_write", "on", "remote_apply")
WAL_LEVELS = ("minimal", "replica", "logical")


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostgresDurability(_Declared):
    fsync: Literal["on", "off"] = "on"
    full_page_writes: Literal["on", "off"] = "on"
    synchronous_commit: Literal["off", "local", "remote_write", "on", "remote_apply"] = "on"  # at least
    wal_level: Literal["minimal", "replica", "logical"] = "replica"  # at least
    archive_mode: Literal["off", "on", "always"] = "on"
    synchronous_standby: bool = Field(True, description="synchronous_standby_names set wherever a standby exists")
    archive_max_age_seconds: int = Field(3600, gt=0, description="the last archived segment at most this old, "
                                         "else a WAL switch is forced and must archive")


class NatsDurability(_Declared):
    sync_interval: str = Field("always", description="'always' (fsync before every ack) or the longest accepted "
                               "interval, e.g. '30s', '2m'")
    stream_replicas: int = Field(3, ge=1, description="every declared stream has at least this many replicas")
    stream_storage: Literal["file", "memory"] = "file"

    @field_validator("sync_interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        if v != "always":
            seconds(v)
        return v


class MongoDurability(_Declared):
    write_concern: str = "majority"
    journal: bool = True


class MinioDurability(_Declared):
    parity: int = Field(2, ge=0, description="erasure-code parity of the STANDARD storage class, at least")
    drives: int = Field(4, ge=1, description="drives in the deployment, all online")


class Durability(_Declared):
    postgres: PostgresDurability = PostgresDurability()
    nats: NatsDurability = NatsDurability()
    mongo: MongoDurability = MongoDurability()
    minio: MinioDurability = MinioDurability()
    opt_in_unsafe: list[str] = Field(default_factory=list, description="'<store>.<setting>' the environment accepts "
                                     "below the declared value: verify warns instead of failing")
    notes: dict[str, str] = Field(default_factory=dict, description="free text per store, shown by `estate status`")

    @model_validator(mode="before")
    @classmethod
    def _legacy_free_text(cls, data: Any) -> Any:
        """The older form, a store -> text dict, becomes notes with the safe defaults."""
        if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
            return {"notes": data}
        return data

    @field_validator("opt_in_unsafe")
    @classmethod
    def _known_settings(cls, names: list[str]) -> list[str]:
        models = {"postgres": PostgresDurability, "nats": NatsDurability, "mongo": MongoDurability,
                  "minio": MinioDurability}
        for name in names:
            store, _, setting = name.partition(".")
            if store not in models or setting not in models[store].model_fields:
                raise ValueError(f"unknown setting {name!r} (expected <store>.<setting>, e.g. nats.sync_interval)")
        return names

    def opted_in(self, store: str, setting: str) -> bool:
        return f"{store}.{setting}" in self.opt_in_unsafe

    def describe(self) -> dict[str, str]:
        """One line per store for `estate status`: the notes if any, else the declared settings."""
        out = {}
        for store in STORES:
            declared = ", ".join(f"{k}={v}" for k, v in getattr(self, store).model_dump().items())
            out[store] = self.notes.get(store) or declared
        if self.opt_in_unsafe:
            out["opted in (unsafe)"] = ", ".join(self.opt_in_unsafe)
        return out


def seconds(duration: str) -> float:
    """A Go-style duration ('500ms', '30s', '2m', '1h30m') in seconds; ValueError if it is not one."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r} (e.g. '30s', '2m')")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * unit[u] for n, u in parts)
