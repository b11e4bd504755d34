"""Point-in-time recovery drill on the local estate's PostgreSQL.

A base backup is taken; a batch of commits follows, then the target moment, then a second batch. A
throwaway server is recovered from the base backup and the WAL archive to that moment: every commit
of the first batch must be there and none of the second. Archiving is proved along the way: the
recovery can only reach the target through segments the primary archived after the base backup.
"""
from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass

from estate.environment import Environment, Role
from estate.errors import EstateError
from estate.local import LocalEstate
from estate.stores.postgres import PostgresAdapter

DRILL_DB = "estate_probe_pitr"
BATCH = 50


@dataclass
class PitrReport:
    before: int = 0  # commits of the first batch found in the recovered server (want BATCH)
    after: int = 0  # commits of the second batch found there (want 0)
    base_seconds: float = 0.0
    recovery_seconds: float = 0.0
    target: str = ""

    @property
    def holds(self) -> bool:
        return self.before == BATCH and self.after == 0


def drill(estate: LocalEstate, env: Environment) -> PitrReport:
    report = PitrReport()
    pg, local = PostgresAdapter(env), estate.postgres
    with pg.connect(Role.admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DRILL_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DRILL_DB}")
    work = local.root / f"pitr-{uuid.uuid4().hex[:8]}"
    recovered = None
    try:
        with pg.connect(Role.admin, dbname=DRILL_DB, autocommit=True) as conn:
            conn.execute("CREATE TABLE ledger (id int PRIMARY KEY, batch text NOT NULL)")
            t0 = time.perf_counter()
            local.base_backup(work)
            report.base_seconds = time.perf_counter() - t0
            for i in range(BATCH):  # one commit each: recovery stops between commits, not inside one
                conn.execute("INSERT INTO ledger VALUES (%s, 'before')", (i,))
            time.sleep(0.05)
            report.target = str(conn.execute("SELECT clock_timestamp()").fetchone()[0])
            time.sleep(0.05)
            for i in range(BATCH, 2 * BATCH):
                conn.execute("INSERT INTO ledger VALUES (%s, 'after')", (i,))
            _archive_current_segment(conn)
        t0 = time.perf_counter()
        recovered = local.recover(work, report.target)
        report.recovery_seconds = time.perf_counter() - t0
        with local.connect(estate.layout.ports.pg_scratch, dbname=DRILL_DB) as conn:
            counts = dict(conn.execute("SELECT batch, count(*) FROM ledger GROUP BY batch").fetchall())
        report.before, report.after = counts.get("before", 0), counts.get("after", 0)
    finally:
        if recovered is not None:
            recovered.stop()
        shutil.rmtree(work, ignore_errors=True)
        with pg.connect(Role.admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DRILL_DB} WITH (FORCE)")
    return report


def _archive_current_segment(conn, timeout: float = 60) -> None:
    """Close the WAL segment holding the last commit and wait until the archiver has copied it."""
    segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
    conn.execute("SELECT pg_switch_wal()")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        archived, failed = conn.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver").fetchone()
        if archived and archived >= segment:  # names sort by timeline, then position
            return
        time.sleep(0.2)
    raise EstateError(f"postgres: WAL segment {segment} was not archived within {timeout:.0f}s"
                      f"{f' (last failure: {failed})' if failed else ''}")
