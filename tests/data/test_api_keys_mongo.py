"""MongoDB bot_core.api_keys: the secret is AES-GCM sealed client-side, never stored in clear."""
from __future__ import annotations

import pytest
from bson import BSON

from estate import api_keys
from estate.crypto import load_key, unseal
from estate.environment import Role
from estate.errors import EstateError
from estate.stores import adapter


def test_api_key_secret_is_sealed_client_side(migrated, tmp_path):
    key = load_key(tmp_path)
    plaintext = "sk-live-MONGO-PLAINTEXT-4b1e"
    with adapter(migrated, "mongo").client(Role.app) as client:
        db = client.bot_core
        doc_id = api_keys.put(db, key, user_id="u-api-key-test", exchange="binance", api_key="ak-mongo-test",
                              secret=plaintext)
        try:
            raw = db.api_keys.find_one({"_id": doc_id})  # the document as stored, read with plain pymongo
            assert "secret" not in raw and isinstance(raw["secret_sealed"], bytes)  # binData subtype 0
            assert plaintext.encode() not in BSON.encode(raw) and plaintext not in repr(raw)
            assert db.api_keys.count_documents({"$or": [{"secret": plaintext}, {"secret_sealed": plaintext}]}) == 0
            assert unseal(key, bytes(raw["secret_sealed"]), b"bot_core.api_keys:" + doc_id.binary) == plaintext
            assert api_keys.secret(db, key, doc_id) == plaintext
            with pytest.raises(EstateError, match="does not decrypt"):
                api_keys.secret(db, load_key(tmp_path / "other"), doc_id)
            with pytest.raises(EstateError, match="does not decrypt"):  # bound to its document's _id
                api_keys.open_sealed(key, {**raw, "_id": type(doc_id)()})
        finally:
            db.api_keys.delete_many({"user_id": "u-api-key-test"})
