"""Exchange API keys in MongoDB (``bot_core.api_keys``): the secret is sealed client-side.

The secret is AES-GCM sealed with ``estate.crypto`` before it leaves the process and stored as
``secret_sealed`` (binData); the document's ``_id`` is bound as associated data, so a sealed value
copied onto another document does not open. The server never sees the clear secret, so this holds on
FerretDB too, where the collection's validator (which forbids a ``secret`` field) is not enforced.
"""
from __future__ import annotations

from bson import Binary, ObjectId

from estate.crypto import seal, unseal
from estate.errors import EstateError


def _context(doc_id: ObjectId) -> bytes:
    return b"bot_core.api_keys:" + doc_id.binary


def put(db, key: bytes, *, user_id: str, exchange: str, api_key: str, secret: str) -> ObjectId:
    """Insert one API key into ``db.api_keys`` (``db`` is the bot_core Database); returns its ``_id``."""
    doc_id = ObjectId()
    db.api_keys.insert_one({"_id": doc_id, "user_id": user_id, "exchange": exchange, "api_key": api_key,
                            "secret_sealed": Binary(seal(key, secret, _context(doc_id)))})
    return doc_id


def secret(db, key: bytes, doc_id: ObjectId) -> str:
    """The clear secret of one API key document, opened with ``key``."""
    doc = db.api_keys.find_one({"_id": doc_id}, {"secret_sealed": 1})
    if doc is None:
        raise EstateError(f"no api key {doc_id} in {db.name}.api_keys")
    return open_sealed(key, doc)


def open_sealed(key: bytes, doc: dict) -> str:
    """Open the ``secret_sealed`` field of a raw api_keys document."""
    return unseal(key, bytes(doc["secret_sealed"]), _context(doc["_id"]))
