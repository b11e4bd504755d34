"""MongoDB: a small ordered migration runner.

Each applied version is recorded in ``estate._migrations`` with a sha256 of its source; if an applied
migration's source changed, the runner refuses to run (a migration is immutable once applied).
A step needing a capability the server lacks (``capabilities`` False, e.g. FerretDB) is recorded as
skipped-for-capability in the record and reported — never silently dropped.
"""
from __future__ import annotations

import hashlib
import inspect
from datetime import UTC, datetime

from pymongo.errors import PyMongoError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.migrations import Step
from estate.migrations.mongo import versions
from estate.stores import adapter

LEDGER_DB, LEDGER = "estate", "_migrations"


class Ctx:
    """What a migration gets: the client, the server's capabilities, and the skip log."""

    def __init__(self, client, capabilities: dict[str, bool]):
        self.client, self.capabilities, self.skipped = client, capabilities, []

    def can(self, capability: str, what: str) -> bool:
        if self.capabilities.get(capability, True):
            return True
        self.skipped.append(f"{what}: server lacks {capability}")
        return False


def checksum(fn) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def _skip_step(version: str, recorded: str) -> Step:
    step, _, why = recorded.partition(": server lacks ")
    return Step("mongo", f"{version}: {step}", "skipped", f"server lacks {why}")


def migrate(env, migrations=None) -> list[Step]:
    migrations = migrations or versions.MIGRATIONS
    store = env.store("mongo")
    try:
        with adapter(env, "mongo").client(Role.admin) as client:
            ledger = client[LEDGER_DB][LEDGER]
            applied = {d["_id"]: d for d in ledger.find()}
            for version, fn in migrations:  # refuse before touching anything
                if version in applied and applied[version]["checksum"] != checksum(fn):
                    raise EstateError(f"mongo migration {version} changed after it was applied "
                                      "(checksum mismatch): add a new migration instead")
            steps = []
            for version, fn in migrations:
                what = f"{version}: {(fn.__doc__ or '').strip().splitlines()[0]}"
                if version in applied:
                    steps.append(Step("mongo", what, "already applied"))
                    skipped = applied[version].get("skipped_for_capability", [])
                else:
                    ctx = Ctx(client, store.capabilities)
                    fn(ctx)
                    ledger.insert_one({"_id": version, "checksum": checksum(fn), "applied_at": datetime.now(UTC),
                                       "skipped_for_capability": ctx.skipped})
                    steps.append(Step("mongo", what, "applied"))
                    skipped = ctx.skipped
                steps += [_skip_step(version, s) for s in skipped]  # repeated on every run: never silent
            return steps
    except PyMongoError as exc:
        raise EstateError(f"mongo migrate: {first_line(exc)}") from None


def recorded_skips(env) -> list[Step] | None:
    """The steps the ledger records as skipped for a lacking capability, one Step each (version first);
    ``None`` when no migration was ever applied (an empty or absent ``estate._migrations``)."""
    try:
        with adapter(env, "mongo").client(Role.admin) as client:
            records = list(client[LEDGER_DB][LEDGER].find({}, {"skipped_for_capability": 1}).sort("_id", 1))
    except PyMongoError as exc:
        raise EstateError(f"mongo ledger {LEDGER_DB}.{LEDGER}: {first_line(exc)}") from None
    if not records:
        return None
    steps = []
    for record in records:
        steps += [_skip_step(record["_id"], s) for s in record.get("skipped_for_capability", [])]
    return steps
