"""Local MongoDB-compatible server.

A real ``mongod`` 3-member replica set (keyFile auth, TLS) when ``mongod`` is on PATH; otherwise
FerretDB v1 over SQLite with TLS and SCRAM authentication. FerretDB speaks the MongoDB wire protocol
but lacks features the seeds use; those are listed in ``FERRETDB_LACKS`` and reported by
``estate status`` and by every migration step that needs them.
"""
from __future__ import annotations

import base64
import secrets
import time

from pymongo import MongoClient
from pymongo.errors import OperationFailure

from estate.environment import Credential, Endpoint, Role, Store
from estate.errors import EstateError
from estate.local.binaries import ensure_go_tool, mongod
from estate.local.files import private_dir, write_private
from estate.local.layout import Layout
from estate.local.process import ServerProcess

REPLICA_SET = "rs0"
MEMBERS = 3

# What FerretDB v1 does not do that MongoDB 7 does (checked against the running server by the
# data layer's capability probes; this list is the starting claim shown before any probe ran).
FERRETDB_LACKS = {
    "replica_set": "no replica set: a single node, no failover, writeConcern majority is the node itself",
    "roles": "users authenticate but roles are not enforced: readonly can write",
    "json_schema_validation": "collMod/create validator ($jsonSchema) not supported",
    "ttl_indexes": "TTL indexes are rejected: createIndexes with expireAfterSeconds fails 'not implemented yet'",
    "partial_indexes": "partial indexes are rejected: partialFilterExpression fails 'not implemented yet' "
                       "(sparse indexes are accepted)",
    "time_series": "time-series collections not supported",
    "transactions": "multi-document transactions not supported",
    "change_streams": "change streams not supported",
    "atomic_updates": "concurrent updates of one document are lost (8 clients x 50 $inc leave far fewer than 400)",
}


class LocalMongo:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.root = layout.workdir / "mongo"
        self.mongod = mongod()

    @property
    def server(self) -> str:
        return "mongod" if self.mongod else "ferretdb"

    def _ports(self) -> list[int]:
        n = MEMBERS if self.mongod else 1
        return [self.layout.ports.mongo(i) for i in range(n)]

    def processes(self, binary: str | None = None) -> list[ServerProcess]:
        tls = self.layout.tls_dir
        common = dict(run_dir=self.layout.run_dir, log_dir=self.layout.log_dir)
        if self.mongod:
            return [
                ServerProcess(
                    name=f"mongod-{i}",
                    argv=[self.mongod, "--replSet", REPLICA_SET, "--bind_ip", "127.0.0.1", "--port", str(port),
                          "--dbpath", str(self.root / f"m{i}"), "--keyFile", str(self.root / "keyfile"),
                          "--tlsMode", "requireTLS", "--tlsCertificateKeyFile", str(self.root / "server.pem"),
                          "--tlsCAFile", str(tls / "ca.crt"), "--tlsAllowConnectionsWithoutCertificates"],
                    ports=[port], **common,
                )
                for i, port in enumerate(self._ports())
            ]
        sec = self.layout.secrets()["mongo"]["admin"]
        port = self._ports()[0]
        return [
            ServerProcess(
                name="ferretdb",
                argv=[binary or "ferretdb", "--handler=sqlite", f"--sqlite-url=file:{self.root / 'data'}/",
                      "--listen-addr=", f"--listen-tls=127.0.0.1:{port}",
                      f"--listen-tls-cert-file={tls / 'server.crt'}", f"--listen-tls-key-file={tls / 'server.key'}",
                      f"--state-dir={self.root / 'state'}", "--telemetry=disable",
                      f"--debug-addr=127.0.0.1:{self.layout.ports.mongo_debug()}", "--log-level=WARN",
                      "--test-enable-new-auth", "--setup-database=admin"],
                ports=[port, self.layout.ports.mongo_debug()],
                # passed by environment, not argv, so the password never shows in `ps`
                env={"FERRETDB_SETUP_USERNAME": sec["username"], "FERRETDB_SETUP_PASSWORD": sec["password"]},
                **common,
            )
        ]

    def up(self, progress) -> None:
        binary = None if self.mongod else ensure_go_tool("ferretdb", progress)
        if self.mongod:
            self._prepare_mongod()
        else:
            for path in (self.root, self.root / "data", self.root / "state"):
                private_dir(path)
        procs = self.processes(binary)
        for proc in procs:
            proc.start()
        if self.mongod:
            for proc, port in zip(procs, self._ports()):
                proc.wait_healthy(lambda port=port: self._ping_noauth(port), timeout=60)
            self._initiate_replica_set()
        else:
            procs[0].wait_healthy(lambda: self._ping("admin"), timeout=60)
        self._ensure_users()

    # --- mongod replica set ------------------------------------------------------------------

    def _prepare_mongod(self) -> None:
        for path in (self.root, *(self.root / f"m{i}" for i in range(MEMBERS))):
            private_dir(path)
        keyfile = self.root / "keyfile"
        if not keyfile.exists():
            write_private(keyfile, base64.b64encode(secrets.token_bytes(756)))
        tls = self.layout.tls_dir
        write_private(self.root / "server.pem", (tls / "server.crt").read_bytes() + (tls / "server.key").read_bytes())

    def _ping_noauth(self, port: int) -> bool:
        with self._client(port=port, direct=True, auth=False) as c:
            c.admin.command("ping")
        return True

    def _initiate_replica_set(self) -> None:
        with self._client(port=self._ports()[0], direct=True, auth=False) as c:
            try:
                c.admin.command("replSetInitiate", {
                    "_id": REPLICA_SET,
                    # member 0 is preferred so the users below are created on the node we talk to
                    "members": [{"_id": i, "host": f"127.0.0.1:{p}", "priority": 2 if i == 0 else 1}
                                for i, p in enumerate(self._ports())],
                })
            except OperationFailure as exc:
                if exc.code not in (13, 23):  # 23: already initialized; 13: auth on (users exist)
                    raise
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if c.admin.command("hello").get("isWritablePrimary"):
                        return
                except OperationFailure:
                    return  # auth already enforced: the set was initialized in an earlier run
                time.sleep(0.5)
        raise EstateError("mongod replica set did not elect a primary within 60s")

    # --- users -------------------------------------------------------------------------------

    def _client(self, role: str = "admin", port: int | None = None, direct: bool = False, auth: bool = True):
        kw = dict(tls=True, tlsCAFile=str(self.layout.ca_file), serverSelectionTimeoutMS=3000, directConnection=direct)
        if auth:
            cred = self.layout.secrets()["mongo"][role]
            kw.update(username=cred["username"], password=cred["password"], authSource="admin",
                      authMechanism="SCRAM-SHA-256")
        if self.mongod and not direct:
            kw.update(replicaSet=REPLICA_SET, w="majority", journal=True)
            hosts = [f"127.0.0.1:{p}" for p in self._ports()]
        else:
            hosts = [f"127.0.0.1:{port or self._ports()[0]}"]
        return MongoClient(hosts, **kw)

    def _ping(self, role: str) -> bool:
        with self._client(role) as c:
            c.admin.command("ping")
        return True

    def _ensure_users(self) -> None:
        sec = self.layout.secrets()["mongo"]
        if self.mongod:
            with self._client(port=self._ports()[0], direct=True, auth=False) as c:
                try:  # localhost exception: the first user may be created without auth
                    c.admin.command("createUser", sec["admin"]["username"], pwd=sec["admin"]["password"],
                                    roles=["root"])
                except OperationFailure as exc:
                    if exc.code not in (13, 51003):
                        raise
        roles = {"app": [{"role": "readWriteAnyDatabase", "db": "admin"}],
                 "readonly": [{"role": "readAnyDatabase", "db": "admin"}]}
        with self._client("admin") as c:
            existing = {u["user"] for u in c.admin.command("usersInfo")["users"]}
            for role in ("app", "readonly"):
                if sec[role]["username"] in existing:
                    continue
                # FerretDB v1 accepts users but not roles (reported as a lacking capability)
                c.admin.command("createUser", sec[role]["username"], pwd=sec[role]["password"],
                                roles=roles[role] if self.mongod else [])

    # --- model -------------------------------------------------------------------------------

    def store(self) -> Store:
        sec = self.layout.secrets()["mongo"]
        if self.mongod:
            caps = {name: True for name in FERRETDB_LACKS}
            notes = [f"mongod replica set {REPLICA_SET} of {MEMBERS}, keyFile auth, requireTLS"]
        else:
            caps = {name: False for name in FERRETDB_LACKS}
            notes = [f"FerretDB v1 (SQLite backend) lacks {name}: {why}" for name, why in FERRETDB_LACKS.items()]
        return Store(
            kind="mongo", server=self.server, version=self._version(),
            endpoints=[Endpoint(name=f"mongo-{i}", host="127.0.0.1", port=p, role="primary" if i == 0 else "member")
                       for i, p in enumerate(self._ports())],
            credentials={Role(r): Credential(**sec[r]) for r in ("admin", "app", "readonly")},
            database="admin", capabilities=caps, notes=notes,
        )

    def _version(self) -> str:
        try:
            with self._client("admin") as c:
                info = c.admin.command("buildInfo")
            return info.get("ferretdbVersion") or info.get("version", "")
        except Exception:
            return ""
