"""The verify report people read: one self-contained HTML page with every result and difference (escaped),
the comparison with the previous run from the history, and a page that headless Chromium renders."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from checks import Outcome, Result, run_checks, write_report
from checks.report import append_history, compare
from estate.environment import Environment
from estate.local import LocalEstate

AT = datetime(2026, 5, 1, 2, 30, tzinfo=UTC)
RESULTS = [
    Result("tls round trip", "postgres", Outcome.holds, "SELECT over TLS", 0.12),
    Result("declared grants", "postgres", Outcome.fails, "2 difference(s)", 0.5,
           ["postgres table chat.sessions grant readonly: declared SELECT, live SELECT, INSERT",
            "postgres <script>alert('x')</script> & \"quoted\": declared a, live b"]),
    Result("certificate expiry", "nats", Outcome.warns, "expires in 20 days", 0.01, ["nats-1 certificate: expires 2026-05-21"]),
    Result("replica set with majority writes", "mongo", Outcome.unsupported, "ferretdb has no replica set", 0.0),
    Result("all drives online, erasure-coded", "minio", Outcome.holds, "4 drives online, EC:2", 0.3),
]


def test_html_holds_every_result_and_difference_escaped(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    write_report(RESULTS, "local", page, AT, compare(RESULTS, tmp_path / "none.jsonl"), 1.5)
    text = page.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in text
    assert "estate verify — local" in text and "2026-05-01T02:30:00+00:00" in text and "in 1.5 s" in text
    rows = re.findall(r"<tr class='check' data-store='(\w+)' data-outcome='(\w+)'><td>([^<]+)</td>", text)
    assert rows == [(r.store, r.outcome.value, r.check) for r in RESULTS]
    for r in RESULTS:
        assert f"<td class='s'>{r.seconds:.2f}</td>" in text
        for line in r.differences:
            assert f"<li>{html.escape(line)}</li>" in text
    assert "no earlier run in the history" in text
    assert "<ul id='failing'><li class='FAILS'>FAILS: postgres: declared grants</li></ul>" in text
    assert not re.search(r"(src|href)=", text)  # self-contained: nothing to fetch


def test_history_names_new_failures_and_fixed_ones(tmp_path: Path) -> None:
    history = tmp_path / "verify-history.jsonl"
    before = [Result("a", "postgres", Outcome.fails, ""), Result("b", "nats", Outcome.holds, ""),
              Result("c", "minio", Outcome.fails, "")]
    append_history(before, "local", AT, history)
    append_history([Result("c", "minio", Outcome.holds, "")], "local", AT.replace(hour=3), history)  # a partial run
    now = [Result("a", "postgres", Outcome.holds, ""), Result("b", "nats", Outcome.fails, ""),
           Result("c", "minio", Outcome.fails, ""), Result("d", "mongo", Outcome.fails, "")]
    cmp = compare(now, history)
    assert cmp.previous_at == "2026-05-01T03:30:00+00:00"
    assert cmp.new_failures == ["nats: b", "minio: c", "mongo: d"]  # c held in its latest run; d never ran
    assert cmp.fixed == ["postgres: a"]
    assert cmp.lines()[0] == "since the run of 2026-05-01T03:30:00+00:00: 3 new failure(s), 1 fixed"
    page = tmp_path / "r.html"
    write_report(now, "local", page, AT, cmp)
    assert "<li class='FAILS'>new failure: nats: b</li>" in page.read_text()
    assert "<li class='holds'>fixed: postgres: a</li>" in page.read_text()


def test_xml_and_json_reports_keep_their_shape(tmp_path: Path) -> None:
    write_report(RESULTS, "local", tmp_path / "r.xml")
    write_report(RESULTS, "local", tmp_path / "r.json")
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "1")
    assert [r["outcome"] for r in json.loads((tmp_path / "r.json").read_text())["results"]] == [r.outcome.value for r in RESULTS]


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "no chromium on PATH: `make test` installs the Debian package"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}"]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=120)


def test_chromium_renders_the_page(tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    write_report(RESULTS, "local", page, AT, compare(RESULTS, tmp_path / "none.jsonl"), 1.5)
    dom = chromium("--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert len(re.findall(r"<tr class=\"check\"", dom.stdout)) == len(RESULTS)
    assert "&lt;script&gt;alert" in dom.stdout and "<script>alert" not in dom.stdout
    shot = tmp_path / "r.png"
    proc = chromium(f"--screenshot={shot}", "--window-size=1100,800", "--hide-scrollbars", page.as_uri(), tmp=tmp_path)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a blank 1100x800 page compresses to a few kB


def test_verify_cli_writes_every_report_and_compares_with_the_history(local_estate: LocalEstate, tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text(json.dumps({"at": "2026-05-01T02:30:00+00:00", "environment": "local",
                                   "outcomes": {"postgres: tls round trip": "FAILS"}}) + "\n")
    reports = [tmp_path / "r.html", tmp_path / "r.xml", tmp_path / "r.json"]
    proc = subprocess.run([sys.executable, "-m", "estate", "verify", "--workdir", str(local_estate.layout.workdir),
                           "--only", "tls round trip", *(f"--report={p}" for p in reports), "--history", str(history)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "since the run of 2026-05-01T02:30:00+00:00: 0 new failure(s), 1 fixed" in proc.stdout
    assert "fixed: postgres: tls round trip" in proc.stdout
    assert all(p.stat().st_size > 0 for p in reports)
    text = reports[0].read_text()
    assert text.count("<tr class='check'") == 4 and "fixed: postgres: tls round trip" in text
    runs = [json.loads(line) for line in history.read_text().splitlines()]
    assert len(runs) == 2 and runs[1]["outcomes"] == {f"{k}: tls round trip": "holds" for k in ("postgres", "mongo", "nats", "minio")}


def test_store_lanes_side_by_side_keep_the_sequential_order(env: Environment) -> None:
    """The report's order does not depend on which store's lane finished first."""
    names = {"every server up over TLS", "tls round trip", "plaintext refused"}
    sequential = run_checks(env, only=names, concurrent=False)
    concurrent = run_checks(env, only=names, concurrent=True)
    assert [(r.store, r.check) for r in concurrent] == [(r.store, r.check) for r in sequential]
    assert len(concurrent) == 12 and {r.outcome for r in concurrent} == {Outcome.holds}
