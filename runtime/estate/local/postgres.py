"""Local PostgreSQL: a primary and one synchronous streaming standby, hostssl + scram only."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from estate.environment import Credential, Endpoint, Role, Store
from estate.errors import EstateError
from estate.local.binaries import ensure_postgres, postgres_bindir
from estate.local.files import private_dir, write_private
from estate.local.layout import Layout, check_traversable, service_user
from estate.local.process import ServerProcess

DATABASE = "estate"
STANDBY_NAME = "standby1"
ROLE_CONF = "estate-role.conf"  # this member's port, primary_conninfo and slot; rewritten on failover


class LocalPostgres:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.root = layout.workdir / "postgres"
        self.primary_dir = self.root / "primary"
        self.standby_dir = self.root / "standby"
        self.archive_dir = self.root / "archive"
        self.owner = service_user("postgres")

    # --- processes ---------------------------------------------------------------------------

    def _proc(self, name: str, data_dir: Path, port: int, bindir: Path | None = None) -> ServerProcess:
        postgres = str((bindir or Path("/nonexistent")) / "postgres")
        return ServerProcess(
            name=name, argv=[postgres, "-D", str(data_dir)], run_dir=self.layout.run_dir,
            log_dir=self.layout.log_dir, ports=[port], user="postgres" if self.owner else None,
            stop_signal=signal.SIGINT,  # fast shutdown: roll back clients, checkpoint, exit
        )

    def processes(self, bindir: Path | None = None) -> list[ServerProcess]:
        return [
            self._proc("postgres-primary", self.primary_dir, self.layout.ports.pg_primary, bindir),
            self._proc("postgres-standby", self.standby_dir, self.layout.ports.pg_standby, bindir),
        ]

    # --- bring-up ----------------------------------------------------------------------------

    def up(self, progress) -> None:
        bindir = ensure_postgres(progress)
        primary, standby = self.processes(bindir)
        if self.owner:
            check_traversable(self.layout.workdir, self.owner[0])
        fresh = not (self.primary_dir / "PG_VERSION").exists()
        if fresh:
            progress("postgres: initdb primary")
            self._initdb(bindir)
        for path in (self.root, self.archive_dir):
            path.chmod(0o700)  # a work dir made before its directories were private
        primary.start()
        primary.wait_healthy(lambda: self._ping(self.layout.ports.pg_primary), timeout=60)
        if fresh:
            self._create_roles()
        if not (self.standby_dir / "PG_VERSION").exists():
            progress("postgres: pg_basebackup standby")
            self._clone(bindir, "standby", "primary")
        standby.start()
        standby.wait_healthy(lambda: self._ping(self.layout.ports.pg_standby), timeout=60)
        self._require_sync_standby(progress)

    def _run_as(self, argv: list[str], env: dict | None = None) -> None:
        env = {**os.environ, **(env or {})}
        kwargs: dict = {}
        if self.owner:
            kwargs = dict(user=self.owner[0], group=self.owner[1], extra_groups=[])
            env["HOME"] = pwd.getpwuid(self.owner[0]).pw_dir  # libpq looks for client certs under ~
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, **kwargs)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()
            raise EstateError(f"{Path(argv[0]).name} failed: {last[-1] if last else proc.returncode}")

    def _own(self, *paths: Path) -> None:
        if self.owner:
            for p in paths:
                os.chown(p, *self.owner)

    def _initdb(self, bindir: Path) -> None:
        sec = self.layout.secrets()["postgres"]
        private_dir(self.root)  # owned by the server's user: it alone enters, like its data directories
        private_dir(self.archive_dir)
        self._own(self.root, self.archive_dir)
        pwfile = self.root / "initdb.pw"
        write_private(pwfile, sec["admin"]["password"], self.owner)
        try:
            self._run_as([
                str(bindir / "initdb"), "-D", str(self.primary_dir), "--username", sec["admin"]["username"],
                "--pwfile", str(pwfile), "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
                "--data-checksums", "--encoding=UTF8", "--locale=C.UTF-8",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self._write_tls(self.primary_dir)
        self._write_conf(self.primary_dir, self.layout.ports.pg_primary)
        (self.primary_dir / "pg_hba.conf").write_text(
            "# TLS only: there is no 'host' line, so plain TCP is refused.\n"
            "hostssl all         all        127.0.0.1/32 scram-sha-256\n"
            "hostssl replication replicator 127.0.0.1/32 scram-sha-256\n"
        )
        self._own(self.primary_dir / "pg_hba.conf")

    def _write_tls(self, data_dir: Path) -> None:
        tls = self.layout.tls_dir
        for src, dst in (("server.crt", "server.crt"), ("ca.crt", "ca.crt")):
            shutil.copyfile(tls / src, data_dir / dst)
            self._own(data_dir / dst)
        write_private(data_dir / "server.key", (tls / "server.key").read_bytes(), self.owner)

    def _write_conf(self, data_dir: Path, port: int) -> None:
        archive = self.archive_dir
        conf = f"""
# --- estate local settings ---
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.crt'
ssl_min_protocol_version = 'TLSv1.2'
password_encryption = 'scram-sha-256'
# durability first: never trade acknowledged commits for speed by default
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
max_wal_senders = 8
max_replication_slots = 8
hot_standby = on
wal_log_hints = on
archive_mode = on
# never overwrite an archived segment; one already there with the same bytes counts as archived
archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f || cmp -s %p {archive}/%f'
archive_timeout = 60
shared_buffers = 128MB
max_connections = 200
"""
        with open(data_dir / "postgresql.conf", "a") as f:
            f.write(conf)

    def _replication_conninfo(self, port: int, name: str = STANDBY_NAME) -> str:
        """How a standby streams from the server on ``port``: as replicator, password from a 0600 passfile."""
        sec = self.layout.secrets()["postgres"]
        passfile = self.root / "replicator.pgpass"
        write_private(passfile, f"127.0.0.1:*:*:replicator:{sec['replicator']['password']}\n", self.owner)
        return (f"host=127.0.0.1 port={port} user=replicator passfile={passfile} "
                f"sslmode=verify-full sslrootcert={self.layout.ca_file} application_name={name}")

    def _clone(self, bindir: Path, member: str, source: str) -> None:
        """Copy ``source``'s data into ``member``'s empty data dir (pg_basebackup through the standby slot)
        and make it ``source``'s standby."""
        data_dir = self._member(member)[0]
        self._run_as([
            str(bindir / "pg_basebackup"), "-D", str(data_dir), "-d", self._replication_conninfo(self._member(source)[1]),
            "-X", "stream", "-S", STANDBY_NAME, "--checkpoint=fast",
        ])
        self._follow(member, source, STANDBY_NAME)

    def connect(self, port: int, role: str = "admin", dbname: str = "postgres", **kw) -> psycopg.Connection:
        """A TLS connection to the local server on ``port`` (any of the estate's, or the scratch one)."""
        cred = self.layout.secrets()["postgres"][role]
        return psycopg.connect(
            host="127.0.0.1", port=port, dbname=dbname, user=cred["username"], password=cred["password"],
            sslmode="verify-full", sslrootcert=str(self.layout.ca_file), connect_timeout=3, **kw,
        )

    def _ping(self, port: int) -> bool:
        with self.connect(port) as conn:
            conn.execute("SELECT 1")
        return True

    def _create_roles(self) -> None:
        sec = self.layout.secrets()["postgres"]
        with self.connect(self.layout.ports.pg_primary, autocommit=True) as conn:
            for role, extra in (("app", ""), ("readonly", ""), ("replicator", " REPLICATION")):
                name, pw = sec[role]["username"], sec[role]["password"]
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}" + extra).format(
                        sql.Identifier(name), sql.Literal(pw)
                    )
                )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(sec["admin"]["username"])))
            conn.execute("REVOKE ALL ON DATABASE estate FROM PUBLIC")
            conn.execute("GRANT CONNECT ON DATABASE estate TO app, readonly")
            conn.execute("GRANT TEMPORARY ON DATABASE estate TO app")
            conn.execute("SELECT pg_create_physical_replication_slot(%s)", (STANDBY_NAME,))

    def _require_sync_standby(self, progress, port: int | None = None) -> None:
        with self.connect(port or self.layout.ports.pg_primary, autocommit=True) as conn:
            current = conn.execute("SHOW synchronous_standby_names").fetchone()[0]
            if current != f"FIRST 1 ({STANDBY_NAME})":
                progress("postgres: making the standby synchronous")
                conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ({STANDBY_NAME})'")
                conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s", (STANDBY_NAME,)
                ).fetchone()
                if row and row[0] == "sync":
                    return
                time.sleep(0.2)
        raise EstateError("postgres: the standby did not become synchronous within 30s")

    # --- failover: crash the primary, promote the standby, rejoin, switch back ---------------------
    # Members are named by their original role ("primary", "standby"); a failover swaps what each does.

    def _member(self, member: str) -> tuple[Path, int, ServerProcess]:
        bindir = postgres_bindir()
        primary, standby = self.processes(bindir)
        if member == "primary":
            return self.primary_dir, self.layout.ports.pg_primary, primary
        return self.standby_dir, self.layout.ports.pg_standby, standby

    def crash(self, member: str) -> None:
        """Fault injection: SIGKILL one member's postmaster and every backend."""
        self._member(member)[2].crash()

    def promote(self, member: str) -> None:
        """Promote ``member``; it stays strict: no commit is acknowledged until a synchronous standby has it."""
        with self.connect(self._member(member)[1], autocommit=True) as conn:
            if not conn.execute("SELECT pg_promote(true, 60)").fetchone()[0]:
                raise EstateError(f"postgres {member}: promotion did not finish within 60s")
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ({STANDBY_NAME})'")
            conn.execute("SELECT pg_reload_conf()")
        self._follow(member, None)

    def rebuild(self, member: str, source: str) -> None:
        """Replace ``member`` (stopped or crashed) with a fresh clone of ``source``, streaming from it
        synchronously. A clone is slower than pg_rewind on a large database but has no corner cases."""
        bindir = ensure_postgres(lambda _: None)
        data_dir, port, proc = self._member(member)
        source_port = self._member(source)[1]
        proc.stop()
        with self.connect(source_port, autocommit=True) as conn:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                         (STANDBY_NAME,))
            conn.execute("SELECT pg_create_physical_replication_slot(%s)", (STANDBY_NAME,))
        shutil.rmtree(data_dir)
        self._clone(bindir, member, source)
        proc.start()
        proc.wait_healthy(lambda: self._ping(port), timeout=60)
        self._require_sync_standby(lambda _: None, source_port)

    def switch_back(self) -> None:
        """After a failover and rebuild (the standby member leading): a clean switchover to the original
        roles, then the old standby cloned afresh."""
        self._member("standby")[2].stop()  # a clean shutdown sends every WAL record to the sync standby first
        self.promote("primary")
        self.rebuild("standby", "primary")

    def _follow(self, member: str, source: str | None, slot: str | None = None) -> None:
        """Write ``member``'s role: its port, and whom it streams from (``source``; None: a primary)."""
        data_dir, port, _ = self._member(member)
        if source is None:
            self._write_role(data_dir, port, ["primary_conninfo = ''", "primary_slot_name = ''", "restore_command = ''"])
            (data_dir / "standby.signal").unlink(missing_ok=True)
        else:
            self._write_role(data_dir, port, [
                f"primary_conninfo = '{self._replication_conninfo(self._member(source)[1])}'",
                f"primary_slot_name = '{slot or ''}'",
                # WAL the source recycled before this member caught up comes from the shared archive
                f"restore_command = 'cp {self.archive_dir}/%f %p'"])
            self._signal(data_dir, "standby.signal")

    def _write_role(self, data_dir: Path, port: int, settings: list[str]) -> None:
        conf = data_dir / "postgresql.conf"
        if ROLE_CONF not in conf.read_text():
            with conf.open("a") as f:
                f.write(f"\n# this server's port and role, rewritten on failover and recovery\ninclude_if_exists = '{ROLE_CONF}'\n")
        (data_dir / ROLE_CONF).write_text("\n".join([f"port = {port}", *settings]) + "\n")
        self._own(data_dir / ROLE_CONF)

    def _signal(self, data_dir: Path, name: str) -> None:
        (data_dir / name).touch()
        self._own(data_dir / name)

    # --- point-in-time recovery: a base backup plus the WAL archive ---------------------------------

    def base_backup(self, dest: Path) -> None:
        """A base backup of the primary member into ``dest`` (plain format, with the WAL it needs)."""
        bindir = ensure_postgres(lambda _: None)
        self._run_as([str(bindir / "pg_basebackup"), "-D", str(dest), "-X", "stream", "--checkpoint=fast",
                      "-d", self._replication_conninfo(self.layout.ports.pg_primary, "estate-base-backup")])

    def recover(self, data_dir: Path, target: str) -> ServerProcess:
        """Start a throwaway server on the scratch port from the base backup in ``data_dir``: it replays
        the WAL archive up to ``target`` (a timestamp), then promotes. It archives nothing itself, so
        the estate's archive gets no timeline of its."""
        bindir = ensure_postgres(lambda _: None)
        port = self.layout.ports.pg_scratch
        self._write_role(data_dir, port, [
            "primary_conninfo = ''", "archive_mode = off", f"restore_command = 'cp {self.archive_dir}/%f %p'",
            f"recovery_target_time = '{target}'", "recovery_target_action = 'promote'"])
        (data_dir / "standby.signal").unlink(missing_ok=True)
        self._signal(data_dir, "recovery.signal")
        proc = self._proc("postgres-recovered", data_dir, port, bindir)
        proc.start()

        def promoted() -> bool:
            with self.connect(port) as conn:
                return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

        try:
            proc.wait_healthy(promoted, timeout=120)
        except EstateError:
            proc.stop()
            raise
        return proc

    # --- model & status ----------------------------------------------------------------------

    def store(self) -> Store:
        sec = self.layout.secrets()["postgres"]
        return Store(
            kind="postgres", server="postgresql", version=self._version(),
            endpoints=[
                Endpoint(name="postgres-primary", host="127.0.0.1", port=self.layout.ports.pg_primary, role="primary"),
                Endpoint(name="postgres-standby", host="127.0.0.1", port=self.layout.ports.pg_standby, role="standby"),
            ],
            credentials={Role(r): Credential(**sec[r]) for r in ("admin", "app", "readonly")},
            database=DATABASE,
            capabilities={"synchronous_standby": True, "wal_archiving": True, "hostssl_only": True},
        )

    def _version(self) -> str:
        try:
            return (self.primary_dir / "PG_VERSION").read_text().strip()
        except FileNotFoundError:
            return ""
