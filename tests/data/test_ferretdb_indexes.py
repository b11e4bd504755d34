"""What FerretDB v1 does with TTL, partial and sparse indexes (the README and FERRETDB_LACKS say so)."""
from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from estate.environment import Role
from estate.stores import adapter


def test_ferretdb_rejects_ttl_and_partial_accepts_sparse(env):
    if env.store("mongo").server != "ferretdb":
        pytest.skip("the local MongoDB is a real mongod")
    with adapter(env, "mongo").client(Role.admin) as client:
        coll = client.estate_probe.index_probe
        try:
            coll.insert_one({"at": 1})
            with pytest.raises(OperationFailure, match="not implemented"):
                coll.create_index([("at", 1)], expireAfterSeconds=60)
            with pytest.raises(OperationFailure, match="not implemented"):
                coll.create_index([("at", 1)], partialFilterExpression={"at": {"$gt": 0}})
            coll.create_index([("maybe", 1)], sparse=True, name="maybe_sparse")
            assert "maybe_sparse" in {i["name"] for i in coll.list_indexes()}
        finally:
            coll.drop()
