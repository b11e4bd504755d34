"""Reports of a verify run: JUnit XML or JSON for pipelines, one self-contained HTML page for people,
and a history (JSON lines, one run each) that tells what newly fails and what was fixed since."""
from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from checks.registry import Outcome, Result
from estate.errors import EstateError

HISTORY_FILE = "verify-history.jsonl"  # in the local estate's work dir


def key(r: Result) -> str:
    return f"{r.store}: {r.check}"


@dataclass
class Comparison:
    """This run against the latest earlier outcome of each check it ran."""

    previous_at: str | None = None  # when the newest earlier run was
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.previous_at is None:
            return ["no earlier run in the history"]
        return [f"since the run of {self.previous_at}: {len(self.new_failures)} new failure(s), {len(self.fixed)} fixed",
                *(f"new failure: {k}" for k in self.new_failures), *(f"fixed: {k}" for k in self.fixed)]


def compare(results: list[Result], history: Path) -> Comparison:
    """Compare with the history: a check fails newly when its latest earlier outcome (in any earlier
    run that ran it) was not FAILS, or it never ran; it is fixed when that outcome was FAILS."""
    try:
        runs = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return Comparison()
    except (OSError, ValueError) as exc:
        raise EstateError(f"verify history {history} is unreadable: {exc}") from None
    if not runs:
        return Comparison()
    before: dict[str, str] = {}
    for run in reversed(runs):
        for k, outcome in run["outcomes"].items():
            before.setdefault(k, outcome)
    fails = Outcome.fails.value
    return Comparison(
        previous_at=runs[-1]["at"],
        new_failures=[key(r) for r in results if r.outcome == Outcome.fails and before.get(key(r)) != fails],
        fixed=[key(r) for r in results if r.outcome != Outcome.fails and before.get(key(r)) == fails],
    )


def append_history(results: list[Result], environment: str, at: datetime, history: Path) -> None:
    history.parent.mkdir(parents=True, exist_ok=True)
    with history.open("a") as fh:
        fh.write(json.dumps({"at": at.isoformat(timespec="seconds"), "environment": environment,
                             "outcomes": {key(r): r.outcome.value for r in results}}) + "\n")


def write_report(results: list[Result], environment: str, path: Path, at: datetime | None = None,
                 comparison: Comparison | None = None, wall_seconds: float | None = None) -> None:
    """Write ``results`` to ``path``: HTML when it ends in .html, JUnit XML when .xml (what CI systems
    read; a failing check is a failure, one the server cannot support a skip with the reason), else JSON."""
    if path.suffix in (".html", ".htm"):
        path.write_text(html_page(results, environment, at or datetime.now(UTC), comparison, wall_seconds))
    elif path.suffix == ".xml":
        suite = ET.Element("testsuite", name=f"estate verify {environment}", tests=str(len(results)),
                           failures=str(sum(r.outcome == Outcome.fails for r in results)),
                           skipped=str(sum(r.outcome == Outcome.unsupported for r in results)),
                           time=f"{sum(r.seconds for r in results):.3f}")
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"estate.{r.store}", name=r.check, time=f"{r.seconds:.3f}")
            if r.outcome == Outcome.fails:
                ET.SubElement(case, "failure", message=r.detail).text = "\n".join(r.differences) or None
            elif r.outcome == Outcome.unsupported:
                ET.SubElement(case, "skipped", message=f"unsupported: {r.detail}")
            else:
                ET.SubElement(case, "system-out").text = r.detail
        ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)
    else:
        path.write_text(json.dumps({"environment": environment, "results": [
            {"store": r.store, "check": r.check, "outcome": r.outcome.value, "detail": r.detail,
             "differences": r.differences, "seconds": round(r.seconds, 3)} for r in results]}, indent=2) + "\n")


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th:nth-child(1){width:28%}th:nth-child(2){width:8em}th:nth-child(3){width:5em}td{overflow-wrap:anywhere}th,td{border-bottom:1px solid #ddd;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.s{text-align:right;white-space:nowrap}ul{margin:.3em 0 0 1.2em;padding:0}
.outcome{font-weight:bold;white-space:nowrap}.holds{color:#17732a}.warns{color:#8a5a00}.FAILS{color:#b00020}
.unsupported{color:#6b6b6b}.totals span{margin-right:1.2em}.cmp li{margin:.15em 0}
"""


def html_page(results: list[Result], environment: str, at: datetime, comparison: Comparison | None,
              wall_seconds: float | None) -> str:
    """One page, no external resource: per store, per check, its outcome, duration, detail and differences."""
    e = html.escape
    counts = {o: sum(r.outcome == o for r in results) for o in Outcome}
    took = f"{wall_seconds:.1f} s" if wall_seconds is not None else f"{sum(r.seconds for r in results):.1f} s of checks"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>estate verify {e(environment)}</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>estate verify — {e(environment)}</h1>",
             f"<p>run at {e(at.isoformat(timespec='seconds'))}, {len(results)} checks in {took}</p>",
             "<p class='totals'>" + "".join(f"<span class='{o.value}'>{counts[o]} {e(o.value)}</span>" for o in Outcome) + "</p>"]
    if failing := [key(r) for r in results if r.outcome == Outcome.fails]:
        parts.append("<ul id='failing'>" + "".join(f"<li class='FAILS'>FAILS: {e(k)}</li>" for k in failing) + "</ul>")
    if comparison is not None:
        items = [f"<li class='FAILS'>new failure: {e(k)}</li>" for k in comparison.new_failures]
        items += [f"<li class='holds'>fixed: {e(k)}</li>" for k in comparison.fixed]
        head = e(comparison.lines()[0])
        parts.append(f"<h2>Since the previous run</h2><div class='cmp' id='comparison'><p>{head}</p><ul>{''.join(items)}</ul></div>")
    for store in dict.fromkeys(r.store for r in results):
        parts.append(f"<h2>{e(store)}</h2><table><tr><th>check</th><th>outcome</th><th>seconds</th><th>detail</th></tr>")
        for r in (r for r in results if r.store == store):
            diffs = "<ul>" + "".join(f"<li>{e(d)}</li>" for d in r.differences) + "</ul>" if r.differences else ""
            parts.append(f"<tr class='check' data-store='{e(store)}' data-outcome='{r.outcome.value}'><td>{e(r.check)}</td>"
                         f"<td class='outcome {r.outcome.value}'>{e(r.outcome.value)}</td><td class='s'>{r.seconds:.2f}</td>"
                         f"<td>{e(r.detail)}{diffs}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
