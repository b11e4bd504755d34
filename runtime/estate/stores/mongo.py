"""MongoDB adapter (pymongo): a real mongod replica set or FerretDB, as the environment says."""
from __future__ import annotations

import uuid

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter


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

