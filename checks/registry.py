"""The check registry and runner."""
from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from enum import StrEnum
from typing import Callable

from estate.environment import Environment, StoreKind
from estate.errors import EstateError, first_line
from estate.stores import adapter


class Outcome(StrEnum):
    holds = "holds"
    warns = "warns"  # holds, but with something to act on soon (an opted-in unsafe setting, a certificate near expiry)
    fails = "FAILS"
    unsupported = "unsupported"


@dataclass
class Result:
    check: str
    store: str
    outcome: Outcome
    detail: str
    seconds: float = 0.0
    differences: list[str] = field(default_factory=list)  # one line each: "store object field: declared X, live Y"


class Unsupported(Exception):
    """Raised by a check when the running server lacks the feature it needs."""


class Failed(AssertionError):
    """A check's failure with every difference it found (each one line), not only the first."""

    def __init__(self, differences: list[str], summary: str | None = None):
        self.differences = list(differences)
        super().__init__(summary or f"{len(self.differences)} difference(s): {'; '.join(self.differences[:3])}")


class Warned(Exception):
    """Raised by a check that holds with reservations: an unsafe setting the environment declares as an
    explicit opt-in, or a certificate inside the warning window. Each reservation is one line."""

    def __init__(self, reservations: list[str]):
        self.differences = list(reservations)
        super().__init__("; ".join(self.differences))


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
    import checks.durability  # noqa: F401
    import checks.encryption  # noqa: F401
    import checks.privilege  # noqa: F401
    import checks.drift  # noqa: F401

    results = []
    order = {kind: i for i, kind in enumerate(("postgres", "mongo", "nats", "minio"))}
    for chk in sorted(CHECKS, key=lambda c: order[c.store]):
        if chk.store not in env.stores or (only and chk.store not in only and chk.name not in only):
            continue
        t0 = time.perf_counter()
        differences: list[str] = []
        try:
            detail = chk.fn(adapter(env, chk.store))
            outcome = Outcome.holds
        except (Failed, Warned) as exc:
            outcome = Outcome.fails if isinstance(exc, Failed) else Outcome.warns
            detail, differences = first_line(exc, 300), exc.differences
        except Unsupported as exc:
            outcome, detail = Outcome.unsupported, str(exc)
        except (EstateError, AssertionError) as exc:
            outcome, detail = Outcome.fails, first_line(exc) or "assertion failed"
        except Exception as exc:  # a check must report, not crash the run
            outcome, detail = Outcome.fails, f"{type(exc).__name__}: {first_line(exc)}"
        results.append(Result(chk.name, chk.store, outcome, detail, time.perf_counter() - t0, differences))
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
