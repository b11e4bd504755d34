"""PostgreSQL adapter (psycopg 3)."""
from __future__ import annotations

import uuid

import psycopg

from estate.environment import Endpoint, Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter


class PostgresAdapter(StoreAdapter):
    kind = "postgres"

    def connect(self, role: Role | str = Role.app, endpoint: str = "primary", **kw) -> psycopg.Connection:
        url = self.env.postgres_url(role, endpoint)
        try:
            return psycopg.connect(url, connect_timeout=5, **kw)
        except psycopg.OperationalError as exc:
            ep = self.store.endpoint(endpoint)
            raise EstateError(f"postgres {ep.address} ({role}): {first_line(exc)}") from None

    def status(self) -> list[ServerStatus]:
        out = []
        for ep in self.store.endpoints:
            st = ServerStatus(name=ep.name, address=ep.address, up=False, role=ep.role)
            try:
                with self.connect(Role.admin, ep.role) as conn:
                    ver = conn.execute("SHOW server_version").fetchone()[0]
                    in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                    ssl_on = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
                    st.up, st.version, st.tls = True, ver.split()[0], bool(ssl_on)
                    st.role = "standby" if in_recovery else "primary"
                    if not in_recovery:
                        rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication").fetchall()
                        st.detail = ", ".join(f"{a}: {s}" for a, s in rows) or "no standby attached"
            except EstateError as exc:
                st.detail = str(exc)
            out.append(st)
        return out

    def roundtrip(self, role: Role = Role.app) -> str:
        token = uuid.uuid4().hex
        with self.connect(role) as conn:
            conn.execute("CREATE TEMP TABLE estate_probe (v text)")
            conn.execute("INSERT INTO estate_probe VALUES (%s)", (token,))
            got = conn.execute("SELECT v FROM estate_probe").fetchone()[0]
        if got != token:
            raise EstateError("postgres round trip read back a different value")
        return "temp table write/read over TLS (verify-full)"

    def plaintext_refused(self) -> bool:
        ep: Endpoint = self.store.endpoint("primary")
        cred = self.store.credential(Role.app)
        try:
            psycopg.connect(host=ep.host, port=ep.port, dbname=self.store.database, user=cred.username,
                            password=cred.password.get_secret_value(), sslmode="disable", connect_timeout=5).close()
        except psycopg.OperationalError:
            return True
        return False

