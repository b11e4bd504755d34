"""Reading exchange API-key secrets back from the stores: each one sealed (AES-GCM, opens with the
estate's key, bound to its row or document) and nowhere in clear. Used by the seed's read-back check
(against the dataset's clear secrets) and by `estate verify` (against every stored key)."""
from __future__ import annotations

import os
from typing import Callable

from bson import BSON

from estate import api_keys
from estate.crypto import ENV_VAR, load_key
from estate.environment import Environment
from estate.errors import EstateError

MAX_LINES = 5


def sealed_problems(where: str, stored: bytes, opened: Callable[[], str], clear: str | None = None) -> list[str]:
    """Problems with one stored secret: ``stored`` (every byte the store holds for it) must not contain
    the clear secret, and ``opened()`` must open it (to ``clear`` when known)."""
    if clear is not None and clear.encode() in stored:
        return [f"{where}: the secret is stored in clear"]
    try:
        value = opened()
    except EstateError as exc:
        return [f"{where}: {exc}"]
    if clear is not None and value != clear:
        return [f"{where}: the sealed secret opens to another value"]
    if clear is None and value.encode() in stored:
        return [f"{where}: the secret is also stored in clear"]
    return []


def audit_postgres(conn, key: bytes) -> tuple[int, list[str]]:
    """(rows, problems) over every row of ``exchange_api_keys``; the whole row is searched for the clear secret."""
    rows = conn.execute("SELECT user_id, exchange, api_key, secret_sealed, row_to_json(t)::text "
                        "FROM exchange_api_keys t").fetchall()
    problems: list[str] = []
    for user_id, exchange, api_key, sealed, text in rows:
        problems += sealed_problems(f"exchange_api_keys {exchange}/{user_id}", bytes(sealed or b"") + text.encode(),
                                    lambda r=(user_id, exchange, api_key, sealed): api_keys.open_pg(key, *r))
    return len(rows), problems


def mongo_doc_problems(doc: dict, key: bytes, clear: str | None = None, db: str = "bot_core") -> list[str]:
    """Problems with one ``api_keys`` document: a clear ``secret`` field, or a secret that is not sealed."""
    where = f"{db}.api_keys {doc['_id']}"
    if "secret" in doc:
        return [f"{where}: has a clear `secret` field"]
    if "secret_sealed" not in doc:
        return [f"{where}: no secret_sealed field"]
    return sealed_problems(where, BSON.encode(doc), lambda: api_keys.open_sealed(key, doc), clear)


def audit_mongo(db, key: bytes) -> tuple[int, list[str]]:
    """(documents, problems) over every document of ``db.api_keys`` (``db`` is bot_core)."""
    docs = list(db.api_keys.find({}))
    return len(docs), [p for doc in docs for p in mongo_doc_problems(doc, key, db=db.name)]


def sealing_key(env: Environment) -> bytes | None:
    """The estate's sealing key where this process can read it (``ESTATE_SECRET_KEY``, or the local work
    dir's key file); None when it cannot. Never creates a key."""
    if os.environ.get(ENV_VAR) or (env.workdir and (env.workdir / "secrets" / "secret.key").exists()):
        return load_key(env.workdir or ".")
    return None
