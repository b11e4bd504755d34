"""The profile's load shape: constant users, or a step ramp that stops at the knee (peak).

Every campaign stops by itself: at ``duration_s``, at ``max_requests`` (the runner's aggregated count,
so on a master it includes every worker), or — for a step ramp — when a step misses a gate of an
operation that ran in it (the knee is the last step that met them all) or the ramp passes ``max_users``. Each step's figures come from the
difference of Locust's response-time histograms at its start and end, so they are the step's own, and
hold on a master as well. The outcome is written to ``shape.json`` in the run directory.
"""
from __future__ import annotations

import json
from pathlib import Path

from locust import LoadTestShape, events
from locust.runners import WorkerRunner
from locust.stats import calculate_response_time_percentile, diff_response_time_dicts

from estate.load_profile import Profile, load_profile
from loadtests.flows import FLOW_USERS


class ProfileShape(LoadTestShape):
    def __init__(self, profile: Profile | None = None):
        super().__init__()
        self._profile = profile
        self.steps: list[dict] = []
        self.outcome = {"stopped_by": None, "knee": None, "steps": self.steps}
        self._step, self._snapshot = -1, {}

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            self._profile = load_profile(self.runner.environment.parsed_options.estate_profile)
        return self._profile

    def tick(self):
        p, t = self.profile, self.get_run_time()
        if t >= p.duration_s:
            return self._stop("duration")
        if self.runner.stats.total.num_requests >= p.max_requests:
            return self._stop("request cap")
        if p.steps is None:
            return p.users, p.spawn_rate
        s = p.steps
        step = int(t // s.step_s)
        if step != self._step:
            if self._step >= 0 and self._close_step():
                return self._stop("a gate broke")
            self._step, self._snapshot = step, self._histograms()
        users = s.start_users + step * s.step_users
        if users > s.max_users:
            return self._stop("ramp done")
        return users, p.spawn_rate

    def _histograms(self) -> dict:
        return {name: (e.num_requests, e.num_failures, dict(e.response_times))
                for (name, _), e in self.runner.stats.entries.items()}

    def _close_step(self) -> bool:
        """Record the step that just ended; True when it missed a gate."""
        s, now = self.profile.steps, self._histograms()
        ops = {}
        for name, (n, fails, hist) in now.items():
            n0, f0, h0 = self._snapshot.get(name, (0, 0, {}))
            count = n - n0
            if not count:
                continue
            diff = diff_response_time_dicts(hist, h0)
            ops[name] = {"requests": count, "failures": fails - f0, "rps": count / s.step_s,
                         **{f"p{int(q * 100)}_ms": calculate_response_time_percentile(diff, count, q) for q in (0.5, 0.95, 0.99)}}
        misses = self.profile.judge(ops, every_gate=False) if ops else [("*", "no requests")]
        users = s.start_users + self._step * s.step_users
        self.steps.append({"users": users, "rps": sum(o["rps"] for o in ops.values()), "operations": ops,
                           "misses": [f"{name}: {miss}" for name, miss in misses]})
        if not misses:
            self.outcome["knee"] = {"users": users, "rps": self.steps[-1]["rps"]}
        self._save()
        return bool(misses)

    def _stop(self, why: str):
        if self.outcome["stopped_by"] is None:
            self.outcome["stopped_by"] = why
            self._save()
        return None

    def _save(self) -> None:
        folder = getattr(self.runner.environment.parsed_options, "estate_run_dir", "")
        if folder:
            (Path(folder) / "shape.json").write_text(json.dumps(self.outcome, indent=1))


@events.init.add_listener
def apply_weights(environment, **_kw) -> None:
    """Give the flow users the profile's weights (a plain `locust -f loadtests/locustfile.py` master)."""
    opts = environment.parsed_options
    if opts is None or not hasattr(opts, "estate_profile") or isinstance(environment.runner, WorkerRunner):
        return  # a worker spawns whatever classes its master sends
    weights = load_profile(opts.estate_profile).weights
    for flow, cls in FLOW_USERS.items():
        cls.weight = weights.get(flow, 0)
    environment.user_classes = [c for c in environment.user_classes if getattr(c, "weight", 1) > 0]
    environment.user_classes_by_name = {c.__name__: c for c in environment.user_classes}
