"""`estate migrate`: bring each store's schema to the declared state, reporting per step.

Each store module exposes ``migrate(env, **kw) -> list[Step]``; a Step is applied, already applied
(no-op) or skipped with the reason (a capability the server lacks) — never silently.
"""
from __future__ import annotations

from dataclasses import dataclass

STORES = ("postgres", "nats", "minio", "mongo")


@dataclass
class Step:
    store: str
    what: str
    status: str  # "applied" | "already applied" | "skipped" | "downgraded" | "corrected"
    why: str = ""


def migrate(env, stores: list[str] | None = None, downgrade: str | None = None) -> list[Step]:
    """Run the migrations of ``stores`` (all by default) in dependency order."""
    from estate.errors import EstateError

    chosen = stores or list(STORES)
    unknown = set(chosen) - set(STORES)
    if unknown:
        raise EstateError(f"unknown store(s) {', '.join(sorted(unknown))}: choose from {', '.join(STORES)}")
    if downgrade is not None and chosen != ["postgres"]:
        raise EstateError("--downgrade applies to PostgreSQL revisions only: add --store postgres")
    steps: list[Step] = []
    for kind in STORES:
        if kind not in chosen or kind not in env.stores:
            continue
        module = __import__(f"estate.migrations.{kind}_store", fromlist=["migrate"])
        steps += module.migrate(env, downgrade) if kind == "postgres" else module.migrate(env)
    return steps
