"""MongoDB adapter (pymongo): a real mongod replica set or FerretDB, as the environment says."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from bson import CodecOptions, decode_file_iter, json_util
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter, check_copy_name, is_scratch

SYSTEM_DBS = {"admin", "config", "local"}
RAW = CodecOptions(document_class=RawBSONDocument)
BATCH = 1000


class MongoAdapter(StoreAdapter):
    kind = "mongo"

    def client(self, role: Role | str = Role.app, **kw) -> MongoClient:
        return MongoClient(self.env.mongo_uri(role), serverSelectionTimeoutMS=5000, **kw)

    def status(self) -> list[ServerStatus]:
        out = []
        for ep in self.store.endpoints:
            st = ServerStatus(name=ep.name, address=ep.address, up=False, role=ep.role, tls=True)
            cred = self.store.credential(Role.admin)
            try:
                with MongoClient(host=ep.host, port=ep.port, tls=True, tlsCAFile=str(self.env.ca_file),
                                 username=cred.username, password=cred.password.get_secret_value(),
                                 authSource="admin", authMechanism="SCRAM-SHA-256", directConnection=True,
                                 serverSelectionTimeoutMS=3000) as c:
                    info = c.admin.command("buildInfo")
                    hello = c.admin.command("hello")
                st.up = True
                st.version = f"{self.store.server} {info.get('ferretdbVersion') or info.get('version')}"
                if "setName" in hello:
                    st.role = "primary" if hello.get("isWritablePrimary") else "secondary"
                else:
                    st.role = "standalone"
                lacks = self.store.lacks()
                st.detail = f"lacks: {', '.join(lacks)}" if lacks else "full MongoDB feature set"
            except PyMongoError as exc:
                st.detail = first_line(exc)
            out.append(st)
        return out

    def roundtrip(self, role: Role = Role.app) -> str:
        token = uuid.uuid4().hex
        try:
            with self.client(role) as c:
                coll = c["estate_probe"]["roundtrip"]
                coll.insert_one({"_id": token, "v": token})
                got = coll.find_one({"_id": token})
                coll.delete_one({"_id": token})
        except PyMongoError as exc:
            raise EstateError(f"mongo ({role}): {first_line(exc)}") from None
        if not got or got["v"] != token:
            raise EstateError("mongo round trip read back a different value")
        return f"insert/find/delete with auth over TLS ({self.store.server})"

    def plaintext_refused(self) -> bool:
        ep = self.store.endpoint()
        cred = self.store.credential(Role.app)
        try:
            with MongoClient(host=ep.host, port=ep.port, tls=False, username=cred.username,
                             password=cred.password.get_secret_value(), authSource="admin",
                             directConnection=True, serverSelectionTimeoutMS=2000) as c:
                c.admin.command("ping")
        except PyMongoError:
            return True
        return False


    # --- backup, restore, checksum: mongodump's layout (<db>/<coll>.bson + .metadata.json) ---------

    def _units(self, client: MongoClient, copy: str | None) -> dict[str, tuple[str, str]]:
        """Unit name ("db.coll" as in the live data) -> (database, collection) to read."""
        out = {}
        for db in client.list_database_names():
            if copy is None and (db in SYSTEM_DBS or is_scratch(db)):
                continue
            if copy is not None and not db.startswith(f"{copy}_"):
                continue
            live = db if copy is None else db[len(copy) + 1:]
            for coll in client[db].list_collection_names():
                if not coll.startswith("system."):
                    out[f"{live}.{coll}"] = (db, coll)
        return out

    def checksum(self, copy: str | None = None) -> dict[str, str]:
        try:
            with self.client(Role.admin) as client:
                return {unit: _digest(client[db].get_collection(coll, codec_options=RAW).find().sort("_id", 1))
                        for unit, (db, coll) in sorted(self._units(client, copy).items())}
        except PyMongoError as exc:
            raise EstateError(f"mongo checksum: {first_line(exc)}") from None

    def backup(self, dest: Path) -> dict[str, str]:
        """Every collection's documents as raw BSON in _id order, with its options and indexes."""
        digests = {}
        try:
            with self.client(Role.admin) as client:
                for unit, (db, coll) in sorted(self._units(client, None).items()):
                    (dest / db).mkdir(parents=True, exist_ok=True)
                    info = next(client[db].list_collections(filter={"name": coll}))
                    kind = info.get("type", "collection")
                    indexes = [] if kind == "view" else [ix for ix in client[db][coll].list_indexes() if ix["name"] != "_id_"]
                    meta = {"options": info.get("options", {}), "type": kind, "indexes": indexes}
                    (dest / db / f"{coll}.metadata.json").write_text(json_util.dumps(meta))
                    docs = client[db].get_collection(coll, codec_options=RAW).find().sort("_id", 1)
                    if meta["type"] == "view":  # its definition is in the options; its documents are derived
                        digests[unit] = _digest(docs)
                        continue
                    with (dest / db / f"{coll}.bson").open("wb") as fh:
                        digests[unit] = _digest(docs, fh)
        except PyMongoError as exc:
            raise EstateError(f"mongo backup: {first_line(exc)}") from None
        return digests

    def restore(self, src: Path, copy: str) -> None:
        self.drop_copy(copy)
        try:
            with self.client(Role.admin) as client:
                for meta_file in sorted(src.glob("*/*.metadata.json")):
                    db, coll = meta_file.parent.name, meta_file.name.removesuffix(".metadata.json")
                    meta = json_util.loads(meta_file.read_text())
                    target = client[f"{copy}_{db}"]
                    target.create_collection(coll, **meta["options"])
                    for ix in meta["indexes"]:
                        spec = {k: v for k, v in ix.items() if k not in ("v", "key", "ns")}
                        target[coll].create_index(list(ix["key"].items()), **spec)
                    if meta["type"] == "view":
                        continue
                    with (meta_file.parent / f"{coll}.bson").open("rb") as fh:
                        batch = []
                        for doc in decode_file_iter(fh, codec_options=RAW):
                            batch.append(doc)
                            if len(batch) == BATCH:
                                target[coll].insert_many(batch)
                                batch = []
                        if batch:
                            target[coll].insert_many(batch)
        except PyMongoError as exc:
            raise EstateError(f"mongo restore: {first_line(exc)}") from None

    def drop_copy(self, copy: str) -> None:
        check_copy_name(copy)
        try:
            with self.client(Role.admin) as client:
                for db in client.list_database_names():
                    if db.startswith(f"{copy}_"):
                        client.drop_database(db)
        except PyMongoError as exc:
            raise EstateError(f"mongo drop {copy}: {first_line(exc)}") from None


def _digest(docs, sink=None) -> str:
    """``count:sha256`` of the documents' raw BSON, in the order given (the caller sorts by _id)."""
    h, n = hashlib.sha256(), 0
    for doc in docs:
        h.update(doc.raw)
        if sink is not None:
            sink.write(doc.raw)
        n += 1
    return f"{n}:{h.hexdigest()}"
