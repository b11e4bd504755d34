"""The check registry and runner."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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


def run_checks(env: Environment, only: set[str] | None = None, concurrent: bool = True) -> list[Result]:
    """Run the checks (``only`` these store or check names) and return their results in a stable order.
    With ``concurrent``, each store's checks run in order in a lane of their own and the stores' lanes run
    side by side: a store's restore drills and probes never race each other."""
    import checks.store_checks  # noqa: F401  (registers the checks)
    import checks.drift  # noqa: F401
    import checks.hygiene  # noqa: F401
    import checks.backups  # noqa: F401
    import checks.durability  # noqa: F401
    import checks.encryption  # noqa: F401
    import checks.privilege  # noqa: F401

    order = {kind: i for i, kind in enumerate(("postgres", "mongo", "nats", "minio"))}
    selected = [chk for chk in sorted(CHECKS, key=lambda c: order[c.store])
                if chk.store in env.stores and (not only or chk.store in only or chk.name in only)]
    lanes: dict[str, list[Check]] = {}
    for chk in selected:
        lanes.setdefault(chk.store, []).append(chk)

    def run_lane(lane: list[Check]) -> list[Result]:
        return [_run_one(env, chk) for chk in lane]

    if concurrent and len(lanes) > 1:
        with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="verify") as pool:
            done = list(pool.map(run_lane, lanes.values()))
    else:
        done = [run_lane(lane) for lane in lanes.values()]
    return [r for lane in done for r in lane]


def _run_one(env: Environment, chk: Check) -> Result:
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
    return Result(chk.name, chk.store, outcome, detail, time.perf_counter() - t0, differences)
