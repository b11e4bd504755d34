"""Users' exchange API keys: the secret is AES-GCM sealed client-side, in both stores that hold them.

- PostgreSQL ``exchange_api_keys``: ``secret_sealed`` (bytea); the row's natural key (user, exchange,
  api key) is bound as associated data, so rows can be written by COPY without reading ids back.
- MongoDB ``bot_core.api_keys``: ``secret_sealed`` (binData); the document's ``_id`` is bound.

A sealed value copied onto another row or document does not open. The server never sees the clear
secret, so this holds on FerretDB too, where the collection's validator (which forbids a ``secret``
field) is not enforced.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bson import Binary, ObjectId

from estate.crypto import seal, unseal
from estate.errors import EstateError

PG_COLUMNS = ["user_id", "exchange", "api_key", "secret_sealed", "created_at"]


@dataclass(frozen=True)
class ApiKey:
    """One exchange API key with its secret in clear (in memory only)."""

    doc_id: ObjectId
    user_id: str
    exchange: str
    api_key: str
    secret: str
    created_at: datetime


def pg_context(user_id: str, exchange: str, api_key: str) -> bytes:
    return b"exchange_api_keys:" + "\0".join((user_id, exchange, api_key)).encode()


def mongo_context(doc_id: ObjectId) -> bytes:
    return b"bot_core.api_keys:" + doc_id.binary


def pg_row(key: bytes, k: ApiKey) -> tuple:
    """The ``exchange_api_keys`` row of ``k`` (columns ``PG_COLUMNS``), secret sealed."""
    sealed = seal(key, k.secret, pg_context(k.user_id, k.exchange, k.api_key))
    return (k.user_id, k.exchange, k.api_key, sealed, k.created_at.replace(tzinfo=None))


def mongo_doc(key: bytes, k: ApiKey) -> dict:
    """The ``bot_core.api_keys`` document of ``k``, secret sealed."""
    return {"_id": k.doc_id, "user_id": k.user_id, "exchange": k.exchange, "api_key": k.api_key,
            "secret_sealed": Binary(seal(key, k.secret, mongo_context(k.doc_id))), "created_at": k.created_at}


def put(db, key: bytes, *, user_id: str, exchange: str, api_key: str, secret: str) -> ObjectId:
    """Insert one API key into ``db.api_keys`` (``db`` is the bot_core Database); returns its ``_id``."""
    k = ApiKey(ObjectId(), user_id, exchange, api_key, secret, datetime.now())
    db.api_keys.insert_one(mongo_doc(key, k))
    return k.doc_id


def put_pg(conn, key: bytes, *, user_id: str, exchange: str, api_key: str, secret: str) -> int:
    """Insert or replace one API key in ``exchange_api_keys`` (psycopg connection); returns its id."""
    sealed = seal(key, secret, pg_context(user_id, exchange, api_key))
    return conn.execute("INSERT INTO exchange_api_keys (user_id, exchange, api_key, secret_sealed) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, exchange, api_key) "
                        "DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed RETURNING id",
                        (user_id, exchange, api_key, sealed)).fetchone()[0]


def secret(db, key: bytes, doc_id: ObjectId) -> str:
    """The clear secret of one API key document, opened with ``key``."""
    doc = db.api_keys.find_one({"_id": doc_id}, {"secret_sealed": 1})
    if doc is None:
        raise EstateError(f"no api key {doc_id} in {db.name}.api_keys")
    return open_sealed(key, doc)


def open_sealed(key: bytes, doc: dict) -> str:
    """Open the ``secret_sealed`` field of a raw api_keys document."""
    return unseal(key, bytes(doc["secret_sealed"]), mongo_context(doc["_id"]))


def open_pg(key: bytes, user_id: str, exchange: str, api_key: str, sealed: bytes) -> str:
    """Open the ``secret_sealed`` column of a raw exchange_api_keys row."""
    return unseal(key, bytes(sealed), pg_context(user_id, exchange, api_key))
