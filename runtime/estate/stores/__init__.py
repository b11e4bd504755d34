"""One adapter per store behind the shared interface of ``estate.stores.base``."""
from __future__ import annotations

from estate.environment import Environment, StoreKind
from estate.stores.base import ServerStatus, StoreAdapter

KINDS: tuple[StoreKind, ...] = ("postgres", "mongo", "nats", "minio")


def adapter(env: Environment, kind: StoreKind) -> StoreAdapter:
    """The adapter for one store of an environment."""
    from estate.stores.minio import MinioAdapter
    from estate.stores.mongo import MongoAdapter
    from estate.stores.nats import NatsAdapter
    from estate.stores.postgres import PostgresAdapter

    cls = {"postgres": PostgresAdapter, "mongo": MongoAdapter, "nats": NatsAdapter, "minio": MinioAdapter}[kind]
    return cls(env)


def adapters(env: Environment) -> list[StoreAdapter]:
    return [adapter(env, kind) for kind in KINDS if kind in env.stores]


__all__ = ["KINDS", "ServerStatus", "StoreAdapter", "adapter", "adapters"]
