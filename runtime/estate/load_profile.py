"""Load profiles: how many users run the platform's flows, for how long, and the SLO gates a campaign must pass.

A profile is YAML, validated here (unknown keys refused, one-line errors). The shipped ones live in
``loadtests/profiles/`` and are named by their file name (``smoke``, ``baseline``, ``peak``, ``soak``);
any other path works too. Gates are per operation (the Locust request name) or ``"*"`` for every
operation; like k6 thresholds, a missed gate fails the run.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from estate.errors import EstateError, first_line, validation_message

PROFILES_DIR = Path(__file__).resolve().parents[2] / "loadtests" / "profiles"
FLOWS = ("chat", "custom_bot", "backtests", "market")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Gate(Model):
    """Limits for one operation over the whole campaign (or one ramp step of a peak profile)."""

    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    min_rps: float | None = Field(default=None, ge=0)

    def misses(self, op: dict) -> list[str]:
        """What ``op`` (requests, failures, rps, p50_ms, p95_ms, p99_ms) misses of this gate."""
        out = [f"{key[:3]} {op[key]:.1f} ms > {limit:g} ms" for key in ("p50_ms", "p95_ms", "p99_ms")
               if (limit := getattr(self, key)) is not None and op["requests"] and op[key] > limit]
        rate = op["failures"] / op["requests"] if op["requests"] else 0.0
        if self.max_error_rate is not None and rate > self.max_error_rate:
            out.append(f"error rate {rate:.2%} > {self.max_error_rate:.2%}")
        if self.min_rps is not None and op["rps"] < self.min_rps:
            out.append(f"{op['rps']:.1f} req/s < {self.min_rps:g}")
        return out


class Steps(Model):
    """A step ramp (peak): start, add users every ``step_s`` seconds until a gate breaks or ``max_users``."""

    start_users: int = Field(ge=1)
    step_users: int = Field(ge=1)
    step_s: float = Field(gt=0)
    max_users: int = Field(ge=1)
    min_knee_users: int = Field(default=0, ge=0, description="fail the run when the knee comes below this")


class Profile(Model):
    name: str
    users: int = Field(ge=1)
    spawn_rate: float = Field(gt=0)
    duration_s: float = Field(gt=0, description="hard stop, also for a step ramp")
    max_requests: int = Field(ge=1, description="request cap: the campaign stops when it is reached")
    bot_workers: int = Field(default=1, ge=0, description="bot-runner worker processes during the campaign")
    weights: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(FLOWS, 1))
    steps: Steps | None = None
    gates: dict[str, Gate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_flows(self) -> "Profile":
        if unknown := sorted(set(self.weights) - set(FLOWS)):
            raise ValueError(f"weights: unknown flow(s) {', '.join(unknown)} (have {', '.join(FLOWS)})")
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise ValueError("weights: non-negative, at least one above 0")
        if self.weights.get("custom_bot") and not self.bot_workers:
            raise ValueError("bot_workers: the custom_bot flow needs at least one bot-runner worker")
        return self

    def judge(self, operations: dict[str, dict], every_gate: bool = True) -> list[tuple[str, str]]:
        """(operation, what it missed) for every gate missed; with ``every_gate`` a gate naming an operation
        that never ran misses too (a whole run; a ramp step judges what ran: at a few users a flow may have none)."""
        out = [(name, "no requests") for name in self.gates if every_gate and name != "*" and name not in operations]
        for name, op in sorted(operations.items()):
            gate = self.gates.get(name) or self.gates.get("*")
            out += [(name, miss) for miss in (gate.misses(op) if gate else [])]
        return out

    def dump(self, path: Path) -> Path:
        path.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        return path


def shipped() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def shortened(profile: Profile, duration_s: float) -> Profile:
    """``profile`` run for ``duration_s`` seconds instead (`estate load --duration`), validated as a profile."""
    try:
        return Profile.model_validate(profile.model_dump() | {"duration_s": duration_s})
    except ValidationError as exc:
        raise EstateError(f"--duration {duration_s:g}: {validation_message(exc)}") from None


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name, or a YAML file by path; a one-line EstateError when it is not valid."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise EstateError(f"no profile {name_or_path!r} (shipped: {', '.join(shipped())}; or give a path to a YAML file)")
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise EstateError(f"no profile file at {path}") from None
    except yaml.YAMLError as exc:
        raise EstateError(f"bad profile {path}: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise EstateError(f"bad profile {path}: expected a mapping of settings")
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise EstateError(f"bad profile {path}: {validation_message(exc)}") from None
