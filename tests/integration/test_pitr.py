"""`estate pitr`: a throwaway server recovered from a base backup and the WAL archive to a moment
between two batches of commits holds exactly the first batch, and leaves the archive as it was."""
from __future__ import annotations

import subprocess
import sys

from estate.local import LocalEstate
from estate.local.process import port_free
from estate.pitr import BATCH, drill


def test_recovery_stops_at_the_target_moment(local_estate: LocalEstate, env) -> None:
    archive = local_estate.postgres.archive_dir
    histories = {p.name for p in archive.glob("*.history")}
    report = drill(local_estate, env)
    assert (report.before, report.after) == (BATCH, 0)
    assert report.holds
    # the recovered server archived nothing: no timeline of its own in the estate's archive
    assert {p.name for p in archive.glob("*.history")} == histories
    assert port_free(local_estate.layout.ports.pg_scratch)  # the recovered server is stopped
    assert not list(local_estate.postgres.root.glob("pitr-*"))  # the base backup copy is removed


def test_cli_reports_the_drill(local_estate: LocalEstate) -> None:
    proc = subprocess.run([sys.executable, "-m", "estate", "pitr", "--workdir", str(local_estate.layout.workdir)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("holds") and f"{BATCH}/{BATCH} commits before the target kept" in proc.stdout
    assert f"0/{BATCH} after it present" in proc.stdout
