"""The check registry and runner."""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from enum import StrEnum
from typing import Callable

from estate.environment import Environment, StoreKind
from estate.errors import EstateError, first_line
from estate.stores import adapter


class Outcome(StrEnum):
    holds = "holds"
    fails = "FAILS"
    unsupported = "unsupported"


@dataclass
class Result:
    check: str
    store: str
    outcome: Outcome
    detail: str
    seconds: float = 0.0


class Unsupported(Exception):
    """Raised by a check when the running server lacks the feature it needs."""


@dataclass(frozen=True)
class Check:
    name: str
    store: StoreKind
    fn: Callable[..., str]  # takes the store's adapter, returns what it verified; raises on failure


CHECKS: list[Check] = []


def check(name: str, store: StoreKind):
    def register(fn: Callable[..., str]) -> Callable[..., str]:
        CHECKS.append(Check(name, store, fn))
        return fn
    return register


def run_checks(env: Environment, only: set[str] | None = None) -> list[Result]:
    import checks.store_checks  # noqa: F401  (registers the checks)

    results = []
    order = {kind: i for i, kind in enumerate(("postgres", "mongo", "nats", "minio"))}
    for chk in sorted(CHECKS, key=lambda c: order[c.store]):
        if chk.store not in env.stores or (only and chk.store not in only and chk.name not in only):
            continue
        t0 = time.perf_counter()
        try:
            detail = chk.fn(adapter(env, chk.store))
            outcome = Outcome.holds
        except Unsupported as exc:
            outcome, detail = Outcome.unsupported, str(exc)
        except (EstateError, AssertionError) as exc:
            outcome, detail = Outcome.fails, first_line(exc) or "assertion failed"
        except Exception as exc:  # a check must report, not crash the run
            outcome, detail = Outcome.fails, f"{type(exc).__name__}: {first_line(exc)}"
        results.append(Result(chk.name, chk.store, outcome, detail, time.perf_counter() - t0))
    return results


def write_report(results: list[Result], environment: str, path: Path) -> None:
    """Write ``results`` to ``path``: JUnit XML when it ends in .xml (what CI systems read), else JSON.
    A check that fails is a JUnit failure; one the server cannot support is a skip with the reason."""
    if path.suffix == ".xml":
        suite = ET.Element("testsuite", name=f"estate verify {environment}", tests=str(len(results)),
                           failures=str(sum(r.outcome == Outcome.fails for r in results)),
                           skipped=str(sum(r.outcome == Outcome.unsupported for r in results)),
                           time=f"{sum(r.seconds for r in results):.3f}")
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=f"estate.{r.store}", name=r.check, time=f"{r.seconds:.3f}")
            if r.outcome == Outcome.fails:
                ET.SubElement(case, "failure", message=r.detail)
            elif r.outcome == Outcome.unsupported:
                ET.SubElement(case, "skipped", message=f"unsupported: {r.detail}")
            else:
                ET.SubElement(case, "system-out").text = r.detail
        ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)
    else:
        path.write_text(json.dumps({"environment": environment, "results": [
            {"store": r.store, "check": r.check, "outcome": r.outcome.value, "detail": r.detail,
             "seconds": round(r.seconds, 3)} for r in results]}, indent=2) + "\n")
