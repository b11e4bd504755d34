"""`estate migrate`: bring each store's schema to the declared state, reporting per step; and compare it.

Each store module exposes ``migrate(env, **kw) -> list[Step]``; a Step is applied, already applied
(no-op) or skipped with the reason (a capability the server lacks) — never silently. Each also
exposes ``compare(env) -> Drift``: the live store against the same declaration the migration applies.
"""
from __future__ import annotations

from dataclasses import dataclass, field

STORES = ("postgres", "nats", "minio", "mongo")


@dataclass
class Step:
    store: str
    what: str
    status: str  # "applied" | "already applied" | "skipped" | "downgraded" | "corrected"
    why: str = ""


@dataclass
class Drift:
    """What differs from the declaration (``store object field: declared X, live Y``, one line each) and
    the declared items the server cannot hold (compared by nothing, so never passed)."""

    differences: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def _chosen(env, stores: list[str] | None) -> list[str]:
    from estate.errors import EstateError

    chosen = stores or list(STORES)
    unknown = set(chosen) - set(STORES)
    if unknown:
        raise EstateError(f"unknown store(s) {', '.join(sorted(unknown))}: choose from {', '.join(STORES)}")
    return [kind for kind in STORES if kind in chosen and kind in env.stores]


def _module(kind: str):
    return __import__(f"estate.migrations.{kind}_store", fromlist=["migrate"])


def compare(env, stores: list[str] | None = None) -> dict[str, Drift]:
    """Store -> its drift from the declaration; reads only, changes nothing."""
    return {kind: _module(kind).compare(env) for kind in _chosen(env, stores)}


def migrate(env, stores: list[str] | None = None, downgrade: str | None = None) -> list[Step]:
    """Run the migrations of ``stores`` (all by default) in dependency order."""
    from estate.errors import EstateError

    chosen = _chosen(env, stores)
    if downgrade is not None and (stores or list(STORES)) != ["postgres"]:
        raise EstateError("--downgrade applies to PostgreSQL revisions only: add --store postgres")
    steps: list[Step] = []
    for kind in chosen:
        module = _module(kind)
        steps += module.migrate(env, downgrade) if kind == "postgres" else module.migrate(env)
    return steps
