"""A MongoDB migration as plain data: collections with their options and indexes.

Applying a ``Migration`` creates what is missing; the drift comparison (``mongo_store.compare``) reads
the very same data back against the live server, so the desired state is written down once. An item
that needs a feature some servers lack is skipped there with its ``label`` recorded in the ledger, and
the comparison reports it as unsupported rather than comparing it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.errors import CollectionInvalid, OperationFailure

Keys = tuple[tuple[str, int], ...]
# what a collection option needs from the server (the capability names of the environment)
NEEDS = {"validator": "json_schema_validation", "timeseries": "time_series", "capped": "capped_collections"}


@dataclass(frozen=True)
class Index:
    keys: Keys
    name: str = ""                          # default: MongoDB's own, e.g. "user_id_1_created_at_-1"
    unique: bool = False
    sparse: bool = False
    ttl_seconds: int | None = None          # expireAfterSeconds
    partial: dict[str, Any] | None = None   # partialFilterExpression
    what: str = ""                          # how a skip of it is worded (default: from the index)

    @property
    def index_name(self) -> str:
        return self.name or "_".join(f"{k}_{d}" for k, d in self.keys)

    @property
    def needs(self) -> str | None:
        return "ttl_indexes" if self.ttl_seconds is not None else "partial_indexes" if self.partial else None

    def options(self) -> dict[str, Any]:
        """The options given to create_index (only those set), named as listIndexes reports them."""
        opts: dict[str, Any] = {name: True for name in ("unique", "sparse") if getattr(self, name)}
        if self.ttl_seconds is not None:
            opts["expireAfterSeconds"] = self.ttl_seconds
        if self.partial:
            opts["partialFilterExpression"] = self.partial
        return opts

    def label(self, ns: str) -> str:
        if self.what:
            return f"{ns} {self.what}"
        if self.ttl_seconds is not None:
            days = self.ttl_seconds // 86400
            return f"{ns} TTL {days}d on {self.keys[0][0]}" if days else f"{ns} TTL on {self.keys[0][0]}"
        return f"{ns} index {self.index_name}"


@dataclass(frozen=True)
class Collection:
    """A collection as one migration declares it; a later migration may name it again to add indexes."""

    db: str
    name: str
    validator: dict[str, Any] | None = None   # applied with validationLevel "moderate"
    capped: tuple[int, int] | None = None     # (size in bytes, max documents)
    timeseries: dict[str, str] | None = None
    indexes: tuple[Index, ...] = ()
    documents: tuple[tuple[str, dict], ...] = ()  # (_id, fields) inserted once, never overwritten

    @property
    def ns(self) -> str:
        return f"{self.db}.{self.name}"

    def label(self, option: str) -> str:
        return {"validator": f"{self.ns} validator", "timeseries": f"{self.ns} as time-series",
                "capped": f"{self.ns} capped"}[option]


@dataclass(frozen=True)
class Migration:
    """One ledger version: its collections, applied in order. Its checksum is that of its data."""

    doc: str
    collections: tuple[Collection, ...]

    def checksum(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def __call__(self, ctx) -> None:
        for coll in self.collections:
            _create(ctx, coll)
            for index in coll.indexes:
                if _attempt(ctx, index.needs, index.label(coll.ns), lambda ix=index: ctx.client[coll.db][coll.name]
                            .create_index(list(ix.keys), name=ix.index_name, **ix.options())):
                    _record_unkept(ctx, coll, index)
            for _id, fields in coll.documents:
                ctx.client[coll.db][coll.name].update_one({"_id": _id}, {"$setOnInsert": fields}, upsert=True)


def _create(ctx, coll: Collection) -> None:
    """Create ``coll`` if absent, with each option the server supports (each lacking one is recorded)."""
    if coll.name in ctx.client[coll.db].list_collection_names():
        return
    opts: dict[str, Any] = {}
    if coll.validator and ctx.can(NEEDS["validator"], coll.label("validator")):
        opts |= {"validator": coll.validator, "validationLevel": "moderate"}
    if coll.timeseries and ctx.can(NEEDS["timeseries"], coll.label("timeseries")):
        opts["timeseries"] = coll.timeseries

    def create(**kw) -> None:
        try:
            ctx.client[coll.db].create_collection(coll.name, **opts, **kw)
        except CollectionInvalid:  # created meanwhile
            pass

    if coll.capped:  # probed: servers differ here without saying so in advance
        size, most = coll.capped
        if _attempt(ctx, NEEDS["capped"], coll.label("capped"), lambda: create(capped=True, size=size, max=most),
                    any_failure=True):
            return
    create()


def _record_unkept(ctx, coll: Collection, index: Index) -> None:
    """Record each option the server accepted but does not keep (FerretDB v1 drops ``sparse``): what
    listIndexes does not report cannot be compared later, so it is reported as lacking, not assumed."""
    live = next((ix for ix in ctx.client[coll.db][coll.name].list_indexes() if ix["name"] == index.index_name), {})
    for option, value in index.options().items():
        if live.get(option) != value:
            ctx.skipped.append(f"{index.label(coll.ns)} {option}: server lacks {option} (accepted, not kept)")


def _attempt(ctx, needs: str | None, label: str, action, any_failure: bool = False) -> bool:
    """Run ``action`` unless the server is known to lack ``needs``; a server that answers "not
    implemented" (any failure, with ``any_failure``) is recorded as lacking it. True when done."""
    if needs and not ctx.can(needs, label):
        return False
    try:
        action()
    except OperationFailure as exc:
        if not needs or not (any_failure or "not implemented" in str(exc)):
            raise
        reason = str((exc.details or {}).get("errmsg", exc)).split(",")[0]
        ctx.skipped.append(f"{label}: server lacks {needs} ({reason})")
        return False
    return True


def declared_state(migrations) -> dict[str, Collection]:
    """Namespace -> the collection the migrations declare together (options from the first declaration
    that gives them, indexes from all), in declaration order."""
    state: dict[str, Collection] = {}
    for _, migration in migrations:
        for coll in getattr(migration, "collections", ()):
            have = state.get(coll.ns)
            if have is None:
                state[coll.ns] = coll
                continue
            state[coll.ns] = Collection(coll.db, coll.name, have.validator or coll.validator,
                                        have.capped or coll.capped, have.timeseries or coll.timeseries,
                                        have.indexes + coll.indexes, have.documents + coll.documents)
    return state
