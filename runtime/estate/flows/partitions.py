"""Capacity-based partition (segment) assignment that holds without transactions or atomic updates.

The first seed keeps ``{_id, bot_count, max_capacity}`` per partition and increments ``bot_count``.
A guarded ``$inc`` cannot enforce capacity on FerretDB v1: it loses concurrent updates to one
document (measured on the local estate: 8 threads x 50 ``$inc`` left 74; a ``findAndModify``
guarded by ``bot_count < 100`` let 400 through). What every server does enforce is a unique index.

So the insert of an item *is* its reservation: each item carries ``segment_id`` and ``slot``
(0 <= slot < max_capacity) under a unique index on (segment_id, slot) — ``SLOT_INDEX``, which we
create when missing — so no partition can hold more than its capacity, and ``_id`` = the item id
makes a second insert of the same item fail. One insert, atomic on any server: nothing to undo
when a worker dies. ``bot_count`` is kept by recount (write the count, count again, repeat until
stable), exact whenever the flow is quiet; ``drift`` checks it.
"""
from __future__ import annotations

import math
from collections import Counter

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

DEFAULT_MAX_CAPACITY = 10
SLOT_INDEX = "segment_slot_unique"


class Partitions:
    def __init__(self, items: Collection, partitions: Collection, max_capacity: int = DEFAULT_MAX_CAPACITY):
        self.items, self.coll, self.max_capacity = items, partitions, max_capacity

    def ensure_index(self) -> None:
        # sparse: items placed some other way (no segment_id/slot) do not collide on (null, null)
        self.items.create_index([("segment_id", 1), ("slot", 1)], unique=True, sparse=True, name=SLOT_INDEX)

    def place(self, doc: dict) -> tuple[dict, bool]:
        """Insert ``doc`` into the first partition with a free slot: (stored document, created by this call)."""
        while True:
            if existing := self.items.find_one({"_id": doc["_id"]}):
                return existing, False
            parts = self._partitions()
            free = self._free_slots(1, parts)
            if not free:
                self._open_partitions(1, parts)
                continue
            placed = {**doc, "segment_id": free[0][0], "slot": free[0][1]}
            try:
                self.items.insert_one(placed)
            except DuplicateKeyError:
                continue  # the same item stored meanwhile, or the slot taken: look again
            self.recount([placed["segment_id"]])
            return placed, True

    def place_many(self, docs: list[dict]) -> set:
        """Bulk ``place`` (seeding): unordered inserts, retrying only the documents whose slot was taken."""
        inserted: set = set()
        todo = list(docs)
        while todo:
            parts = self._partitions()
            free = self._free_slots(len(todo), parts)
            if len(free) < len(todo):
                self._open_partitions(math.ceil((len(todo) - len(free)) / self.max_capacity), parts)
                continue
            for doc, (segment, slot) in zip(todo, free):
                doc["segment_id"], doc["slot"] = segment, slot
            try:
                self.items.insert_many(todo, ordered=False)
                failed: set[int] = set()
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
                failed = {e["index"] for e in exc.details["writeErrors"]}
            inserted |= {d["_id"] for i, d in enumerate(todo) if i not in failed}
            self.recount(sorted({seg for seg, _ in free[:len(todo)]}))
            retry = [d for i, d in enumerate(todo) if i in failed]
            stored = {d["_id"] for d in self.items.find({"_id": {"$in": [d["_id"] for d in retry]}}, {"_id": 1})} if retry else set()
            todo = [d for d in retry if d["_id"] not in stored]
        return inserted

    def recount(self, segments: list[int]) -> None:
        """Set each partition's bot_count to the items placed in it; repeat until a second read agrees."""
        for _ in range(10):
            counts = self._placed(segments)
            for segment in segments:
                self.coll.update_one({"_id": segment}, {"$set": {"bot_count": counts.get(segment, 0)}})
            if self._placed(segments) == counts:
                return

    def _placed(self, segments: list[int]) -> Counter:
        # one projected read, not a count per partition (each count is a full aggregation on FerretDB)
        return Counter(d["segment_id"] for d in self.items.find({"segment_id": {"$in": segments}}, {"segment_id": 1}))

    def _partitions(self) -> list[dict]:
        return list(self.coll.find().sort("_id", 1))

    def _free_slots(self, wanted: int, snapshot: list[dict]) -> list[tuple[int, int]]:
        """Up to ``wanted`` free (segment, slot) pairs, lowest partition first."""
        parts = [p for p in snapshot if p.get("bot_count", 0) < p.get("max_capacity", self.max_capacity)]
        taken = {(d["segment_id"], d.get("slot"))
                 for d in self.items.find({"segment_id": {"$in": [p["_id"] for p in parts]}}, {"segment_id": 1, "slot": 1})}
        free = []
        for part in parts:
            cap = part.get("max_capacity", self.max_capacity)
            free += [(part["_id"], s) for s in range(cap) if (part["_id"], s) not in taken][: wanted - len(free)]
            if len(free) >= wanted:
                break
        return free

    def _open_partitions(self, count: int, snapshot: list[dict]) -> None:
        # numbered after the snapshot that found no room: if another worker opened them meanwhile,
        # the inserts collide and nothing is opened in vain
        first = (snapshot[-1]["_id"] + 1) if snapshot else 1
        for pid in range(first, first + count):
            try:
                self.coll.insert_one({"_id": pid, "bot_count": 0, "max_capacity": self.max_capacity})
            except DuplicateKeyError:
                pass  # another worker opened it first; its slots are just as good

    def drift(self) -> list[str]:
        """Where partitions disagree with the items placed in them (empty when consistent)."""
        placed = Counter(d.get("segment_id") for d in self.items.find({}, {"segment_id": 1}))
        problems = []
        for part in self.coll.find():
            count, cap = part.get("bot_count", 0), part.get("max_capacity", self.max_capacity)
            if count != placed.get(part["_id"], 0):
                problems.append(f"partition {part['_id']}: bot_count {count}, items placed {placed.get(part['_id'], 0)}")
            if placed.get(part["_id"], 0) > cap:
                problems.append(f"partition {part['_id']}: {placed[part['_id']]} items over max_capacity {cap}")
        if None in placed:
            problems.append(f"{placed[None]} items without a segment_id")
        return problems
