"""Drift: each store against what its migrations and config declare (the same declaration the
migration applies, read back from the live servers). Every difference is one line, ``store object
field: declared X, live Y``; a declared item the server cannot hold is reported unsupported."""
from __future__ import annotations

from checks.registry import Failed, Unsupported, check
from estate.migrations import compare
from estate.stores import KINDS

WHAT = {"postgres": "Alembic head, schema equal to the models, grants equal to the declared ones",
        "mongo": "ledger at head, declared databases, collections, options and indexes",
        "nats": "declared stream and consumer, field by field",
        "minio": "declared buckets' policy, SSE, versioning, lifecycle, lock, quota; anonymous access refused"}


def _matches(a) -> str:
    drift = compare(a.env, [a.kind])[a.kind]
    if drift.differences:
        raise Failed(drift.differences)
    compared = " (the rest is reported unsupported)" if drift.unsupported else ""
    return WHAT[a.kind] + compared


def _lacks(a) -> str:
    drift = compare(a.env, [a.kind])[a.kind]
    if drift.unsupported:
        raise Unsupported(f"{len(drift.unsupported)} declared item(s) the server cannot hold: "
                          + "; ".join(drift.unsupported))
    return "every declared item is held by the server"


for _kind in KINDS:
    check("matches its declaration", _kind)(_matches)
check("declared features the server lacks", "mongo")(_lacks)
