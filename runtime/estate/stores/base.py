"""The interface every store adapter offers; checks are written once against it.

Like pytest-testinfra's backends × modules: the Environment says how to reach a store, the adapter
says how to talk to it, and checks (``checks/``) say what must hold.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from estate.environment import Environment, Role, Store, StoreKind
from estate.errors import EstateError

COPY_PREFIX = "estate_restore"  # restored copies are named so; backups skip them, and the harness's scratch
BACKUP_BUCKET = "estate-backups"  # where `estate backup --upload` keeps backups (never backed up itself)
_SCRATCH = ("estate_probe", "estate_bench", COPY_PREFIX, BACKUP_BUCKET.replace("-", "_"))


def is_scratch(name: str) -> bool:
    """Whether a database, stream or bucket is the harness's own (probes, benchmarks, restored copies,
    the backups bucket)."""
    return name.lower().replace("-", "_").startswith(_SCRATCH)


def check_copy_name(copy: str) -> str:
    """``copy``, if it is a name a restored copy may have; else a one-line error."""
    if not copy.startswith(COPY_PREFIX):
        raise EstateError(f"a restored copy's name must start with {COPY_PREFIX!r} (got {copy!r}), so live data is never overwritten")
    return copy


@dataclass
class ServerStatus:
    """What `estate status` shows for one server process."""

    name: str
    address: str
    up: bool
    version: str = ""
    tls: bool = False
    role: str = ""
    detail: str = ""
    extra: dict = field(default_factory=dict)


class StoreAdapter(ABC):
    """Connect to one store of an environment over TLS and exercise it."""

    kind: StoreKind

    def __init__(self, env: Environment):
        self.env = env
        self.store: Store = env.store(self.kind)

    @abstractmethod
    def status(self) -> list[ServerStatus]:
        """One entry per endpoint: reachable over TLS?, version, role."""

    @abstractmethod
    def roundtrip(self, role: Role = Role.app) -> str:
        """Write a probe value and read it back over TLS; returns a short description of what was done."""

    @abstractmethod
    def plaintext_refused(self) -> bool:
        """True when a client that does not speak TLS cannot use the store."""

    # --- backup, restore, checksum: a restore drill never writes over live data -------------------

    @abstractmethod
    def checksum(self, copy: str | None = None) -> dict[str, str]:
        """Digest per unit (table, collection, stream, bucket) of the live data, or of the restored
        ``copy``; units are named as in the live data, so the two compare directly."""

    @abstractmethod
    def backup(self, dest: Path) -> dict[str, str]:
        """Write a backup of every unit under ``dest``; returns the checksum of the data it holds."""

    @abstractmethod
    def restore(self, src: Path, copy: str) -> None:
        """Restore the backup in ``src`` as a separate ``copy`` (a database, prefix or bucket name)."""

    @abstractmethod
    def drop_copy(self, copy: str) -> None:
        """Remove a restored ``copy``."""
