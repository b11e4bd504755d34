"""The interface every store adapter offers; checks are written once against it.

Like pytest-testinfra's backends × modules: the Environment says how to reach a store, the adapter
says how to talk to it, and checks (``checks/``) say what must hold.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from estate.environment import Environment, Role, Store, StoreKind


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
