"""PostgreSQL adapter (psycopg 3)."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from estate.environment import Endpoint, Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter, check_copy_name

DUMP = "postgres.dump"


class PostgresAdapter(StoreAdapter):
    kind = "postgres"

    def connect(self, role: Role | str = Role.app, endpoint: str = "primary", **kw) -> psycopg.Connection:
        """A connection over TLS (verify-full); ``dbname=`` picks another database than the estate's."""
        url = self.env.postgres_url(role, endpoint)
        try:
            return psycopg.connect(url, connect_timeout=5, **kw)
        except psycopg.OperationalError as exc:
            ep = self.store.endpoint(endpoint)
            raise EstateError(f"postgres {ep.address} ({role}): {first_line(exc)}") from None

    def libpq_env(self, role: Role | str = Role.app, dbname: str | None = None) -> dict[str, str]:
        """Environment for libpq tools (psql, pg_dump…): credentials by environment, never in argv."""
        ep, cred = self.store.endpoint("primary"), self.store.credential(role)
        return {**os.environ, "PGHOST": ep.host, "PGPORT": str(ep.port), "PGUSER": cred.username,
                "PGPASSWORD": cred.password.get_secret_value(), "PGDATABASE": dbname or self.store.database,
                "PGSSLMODE": "verify-full", "PGSSLROOTCERT": str(self.env.ca_file)}

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

    # --- backup, restore, checksum -----------------------------------------------------------------

    def checksum(self, copy: str | None = None) -> dict[str, str]:
        with self.connect(Role.admin, dbname=copy or self.store.database) as conn:
            return _table_digests(conn)

    def backup(self, dest: Path) -> dict[str, str]:
        """``pg_dump -Fc`` taken in the very snapshot the checksums are computed in (pg_export_snapshot)."""
        dest.mkdir(parents=True, exist_ok=True)
        with self.connect(Role.admin) as conn:
            conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            digests = _table_digests(conn)
            run_pg_tool("pg_dump", ["--format=custom", f"--snapshot={snapshot}", "--file", str(dest / DUMP)],
                        self.libpq_env(Role.admin))
        return digests

    def restore(self, src: Path, copy: str) -> None:
        if not (src / DUMP).exists():
            raise EstateError(f"postgres restore: no {DUMP} in {src}")
        self.drop_copy(copy)
        with self.connect(Role.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(copy)))
        run_pg_tool("pg_restore", ["--exit-on-error", "--dbname", copy, str(src / DUMP)], self.libpq_env(Role.admin, copy))

    def drop_copy(self, copy: str) -> None:
        check_copy_name(copy)
        with self.connect(Role.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy)))


def _table_digests(conn: psycopg.Connection) -> dict[str, str]:
    """``rows:md5`` per table of the public schema; row order does not matter, every value does."""
    tables = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")]
    out = {}
    for table in tables:
        rows, digest = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) FROM {} t"
        ).format(sql.Identifier(table))).fetchone()
        out[table] = f"{rows}:{digest}"
    return out


def run_pg_tool(name: str, args: list[str], env: dict[str, str]) -> None:
    """Run a PostgreSQL client tool (pg_dump, pg_restore…); a failure is one line with its message."""
    from estate.local.binaries import postgres_bindir  # Debian keeps the versioned tools off PATH

    path = (postgres_bindir() or Path("/usr/bin")) / name
    if not path.exists():
        raise EstateError(f"{name} not found (install the postgresql-client package)")
    proc = subprocess.run([str(path), *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EstateError(f"{name} failed: {first_line(Exception(proc.stderr.strip() or proc.stdout))}")
