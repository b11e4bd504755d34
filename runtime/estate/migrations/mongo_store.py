"""MongoDB: a small ordered migration runner, and the comparison of the live server with the migrations.

Each applied version is recorded in ``estate._migrations`` with a sha256 of its declaration; if an
applied migration changed, the runner refuses to run (a migration is immutable once applied).
A step needing a capability the server lacks (``capabilities`` False, e.g. FerretDB) is recorded as
skipped-for-capability in the record and reported — never silently dropped. ``compare`` reads every
declared database, collection, option and index back from the server; what the server cannot hold
is listed as unsupported, never passed.
"""
from __future__ import annotations

import hashlib
import inspect
from datetime import UTC, datetime

from pymongo.errors import PyMongoError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.migrations import Drift, Step
from estate.migrations.mongo import versions
from estate.migrations.mongo.declaration import NEEDS, Collection, Migration, declared_state
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
    """Of a declared ``Migration``, its data; of a migration written as a function, its source."""
    if isinstance(fn, Migration):
        return fn.checksum()
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def _unchanged(version: str, fn, recorded: str) -> bool:
    return recorded in (checksum(fn), versions.EARLIER_CHECKSUMS.get(version))


def _summary(fn) -> str:
    return ((fn.doc if isinstance(fn, Migration) else fn.__doc__) or "").strip().splitlines()[0]


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
                if version in applied and not _unchanged(version, fn, applied[version]["checksum"]):
                    raise EstateError(f"mongo migration {version} changed after it was applied "
                                      "(checksum mismatch): add a new migration instead")
            steps = []
            for version, fn in migrations:
                what = f"{version}: {_summary(fn)}"
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


# --- drift: the live server against the declared migrations ----------------------------------------

LEDGER_NS = f"{LEDGER_DB}.{LEDGER}"
INDEX_OPTIONS = (("unique", False), ("sparse", False), ("expireAfterSeconds", None), ("partialFilterExpression", None))


def compare(env, migrations=None) -> Drift:
    """Every difference between the live server and ``migrations`` (all by default), one line each, and
    the declared items the server cannot hold (lacking capability, or recorded as skipped by the ledger)."""
    migrations = migrations or versions.MIGRATIONS
    declared = declared_state(migrations)
    lacking = set(env.store("mongo").lacks())
    try:
        with adapter(env, "mongo").client(Role.admin) as client:
            ledger = {d["_id"]: d for d in client[LEDGER_DB][LEDGER].find()}
            databases = set(client.list_database_names())
            live = {db: {c["name"]: c for c in client[db].list_collections()} for db in databases}
            indexes = {ns: {ix["name"]: ix for ix in client[c.db][c.name].list_indexes()}
                       for ns, c in declared.items() if c.name in live.get(c.db, {})}
    except PyMongoError as exc:
        raise EstateError(f"mongo drift: {first_line(exc)}") from None
    skipped = dict(s.partition(": server lacks ")[::2] for d in ledger.values()
                   for s in d.get("skipped_for_capability", []))
    drift = Drift()

    def supported(needs: str, label: str) -> bool:
        if needs in lacking or label in skipped:
            drift.unsupported.append(f"{label} (server lacks {needs if needs in lacking else skipped[label]})")
            return False
        return True

    for version, fn in migrations:
        if version not in ledger:
            drift.differences.append(f"mongo {LEDGER_NS} {version}: declared applied, live not applied")
        elif not _unchanged(version, fn, ledger[version]["checksum"]):
            drift.differences.append(f"mongo {LEDGER_NS} {version} checksum: declared {checksum(fn)[:12]}, "
                                     f"live {ledger[version]['checksum'][:12]}")
    missing_dbs = set()
    for ns, coll in declared.items():
        if coll.db not in databases:
            if coll.db not in missing_dbs:
                missing_dbs.add(coll.db)
                drift.differences.append(f"mongo {coll.db} database: declared present, live absent")
            continue
        info = live[coll.db].get(coll.name)
        if info is None:
            drift.differences.append(f"mongo {ns} collection: declared present, live absent")
            continue
        drift.differences += _options_drift(coll, info, supported) + _indexes_drift(coll, info, indexes[ns], supported)
    return drift


def _options_drift(coll: Collection, info: dict, supported) -> list[str]:
    opts, out = info.get("options", {}), []

    def differ(field: str, declared, live) -> None:
        if declared != live:
            out.append(f"mongo {coll.ns} {field}: declared {_show(declared)}, live {_show(live)}")

    if not coll.validator or supported(NEEDS["validator"], coll.label("validator")):
        differ("validator", coll.validator, opts.get("validator"))
        if coll.validator:
            differ("validationLevel", "moderate", opts.get("validationLevel", "strict"))
            differ("validationAction", "error", opts.get("validationAction", "error"))
    if not coll.capped or supported(NEEDS["capped"], coll.label("capped")):
        differ("capped", coll.capped, (opts.get("size"), opts.get("max")) if opts.get("capped") else None)
    if not coll.timeseries or supported(NEEDS["timeseries"], coll.label("timeseries")):
        live_ts = opts.get("timeseries") if info.get("type") == "timeseries" else None
        differ("timeseries", coll.timeseries, live_ts and {k: live_ts.get(k) for k in coll.timeseries or live_ts})
    return out


def _indexes_drift(coll: Collection, info: dict, live: dict[str, dict], supported) -> list[str]:
    live = {name: ix for name, ix in live.items() if name != "_id_"}
    out = []
    for index in coll.indexes:
        name = index.index_name
        if index.needs and not supported(index.needs, index.label(coll.ns)):
            continue
        have = live.pop(name, None)
        if have is None:
            out.append(f"mongo {coll.ns} index {name}: declared {_index_show(index.keys, index.options())}, live absent")
            continue
        keys = _keys(have)
        if keys != index.keys:
            out.append(f"mongo {coll.ns} index {name} keys: declared {_keys_show(index.keys)}, live {_keys_show(keys)}")
        declared = index.options()
        for option, default in INDEX_OPTIONS:
            if option in declared and not supported(option, f"{index.label(coll.ns)} {option}"):
                continue
            want, got = declared.get(option, default), have.get(option, default)
            if option in ("unique", "sparse"):
                want, got = bool(want), bool(got)
            if want != got:
                out.append(f"mongo {coll.ns} index {name} {option}: declared {_show(want)}, live {_show(got)}")
    ts = info.get("options", {}).get("timeseries") if info.get("type") == "timeseries" else None
    for name, have in live.items():
        if ts and _keys(have) == ((ts.get("metaField"), 1), (ts["timeField"], 1)):
            continue  # MongoDB 6.3+ creates this index on every time-series collection with a metaField
        options = {k: have[k] for k, _ in INDEX_OPTIONS if have.get(k)}
        out.append(f"mongo {coll.ns} index {name}: declared absent, live {_index_show(_keys(have), options)}")
    return out


def _keys(ix: dict) -> tuple:
    return tuple((k, int(v) if isinstance(v, (int, float)) else v) for k, v in ix["key"].items())


def _keys_show(keys) -> str:
    return "{" + ", ".join(f"{k}: {d}" for k, d in keys) + "}"


def _index_show(keys, options: dict) -> str:
    return " ".join([_keys_show(keys), *(f"{k}={_show(v)}" for k, v in options.items())])


def _show(value) -> str:
    return "none" if value is None else str(value)
