"""Partition placement under contention on the real MongoDB-compatible server (FerretDB locally)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from estate.environment import Environment, Role
from estate.flows.partitions import Partitions
from estate.stores import adapter

THREADS, ITEMS, CAPACITY = 8, 160, 5


def test_concurrent_placement_fills_partitions_exactly_to_capacity(env: Environment) -> None:
    db_name = f"estate_test_partitions_{uuid.uuid4().hex[:8]}"
    clients = [adapter(env, "mongo").client(Role.app) for _ in range(THREADS)]
    try:
        ids = [f"item-{i}" for i in range(ITEMS)]

        def place(worker: int) -> int:
            db = clients[worker][db_name]
            parts = Partitions(db["items"], db["partitions"], CAPACITY)
            # every worker tries every item: each must end up stored exactly once
            return sum(parts.place({"_id": i, "worker": worker})[1] for i in ids[worker::2] + ids[worker + 1::2])

        Partitions(clients[0][db_name]["items"], clients[0][db_name]["partitions"], CAPACITY).ensure_index()
        with ThreadPoolExecutor(THREADS) as pool:
            created = sum(pool.map(place, range(THREADS)))
        db = clients[0][db_name]
        assert created == ITEMS
        assert sorted(d["_id"] for d in db["items"].find({}, {"_id": 1})) == sorted(ids)
        # every partition in use is full (a race on the very same item may open one more, left empty)
        counts = sorted(p["bot_count"] for p in db["partitions"].find())
        assert [c for c in counts if c] == [CAPACITY] * (ITEMS // CAPACITY)
        assert Partitions(db["items"], db["partitions"], CAPACITY).drift() == []
    finally:
        clients[0].drop_database(db_name)
        for c in clients:
            c.close()
