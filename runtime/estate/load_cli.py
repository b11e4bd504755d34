"""The terminal side of `estate load --profile` and `estate load --reconcile`: run, print, plot, verdict."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from rich.console import Console

from estate.environment import Environment
from estate.errors import EstateError
from estate.load_campaign import FAULTS, CampaignResult, run_campaign
from estate.load_profile import load_profile, shortened
from estate.load_reconcile import cleanup, reconcile
from estate import load_report as rep


def parse_during(during: str | None) -> str | None:
    if during is None:
        return None
    kind, _, store = during.partition(":")
    if kind != "failover" or store not in FAULTS:
        raise EstateError(f"--during {during!r}: expected failover:{'|'.join(FAULTS)}")
    return store


def profile_campaign(environment: Environment, env_name: str, workdir: Path, profile_name: str, workers: int,
                     during: str | None, run_dir: Path | None, keep: bool, out: Console,
                     progress: Callable[[str], None], duration_s: float | None = None) -> bool:
    """Run the campaign (for ``duration_s`` instead of the profile's, if given) and print what it found;
    True when the run failed."""
    profile = load_profile(profile_name)
    if duration_s is not None:
        profile = shortened(profile, duration_s)
    store = parse_during(during)
    if store and env_name != "local":
        raise EstateError("--during runs a failover drill, which kills servers: only on the local estate")
    run_dir = run_dir or workdir / "load-runs" / f"{time.strftime('%Y%m%dT%H%M%S')}-{profile.name}"
    result = run_campaign(environment, env_name, workdir, profile, run_dir, workers, store, keep, progress)
    report(result, out)
    return not result.passed


def report(r: CampaignResult, out: Console) -> None:
    s = r.summary
    tables = [rep.operations_table(s, r.misses)]
    if s["shape"].get("steps"):
        tables.append(rep.steps_table(s["shape"]))
    tl = rep.timeline(r.run_dir)
    fault_span = None
    if r.fault:
        fault_span = (r.fault.start, r.fault.end or r.fault.start, f"failover:{r.fault.store}")
        tables.append(rep.fault_table(rep.fault_effects(tl, r.fault.start, r.fault.end or r.fault.start)))
    rep.print_tables(out, *tables)
    png = rep.plot(tl, r.run_dir / "timeline.png", f"estate load --profile {s['profile']} (run {r.run_id})", fault_span)
    procs = rep.processes(r.run_dir)
    out.print(f"Locust processes that ran users: {len(procs)} "
              f"({', '.join(f'pid {pid}: {n} requests' for pid, n in sorted(procs.items()))})", highlight=False)
    if r.fault:
        f = r.fault
        if f.error:
            out.print(f"[red]FAILS[/red] failover:{f.store} drill: {f.error}", highlight=False)
        else:
            d = f.report
            verdict = "[green]holds[/green]" if d.holds else "[red]FAILS[/red]"
            out.print(f"{verdict} failover:{f.store} at {f.start - s['started']:.1f}s into the run ({f.end - f.start:.1f}s): "
                      f"{d.acked} acknowledged writes, {len(d.lost)} lost, outage "
                      f"{f'{d.outage:.2f}s' if d.outage is not None else 'writes never resumed'}; {d.detail}", highlight=False)
    for line in r.worker_restarts:
        out.print(f"[yellow]restarted[/yellow] {line}", highlight=False)
    if r.knee_too_low:
        out.print(f"[red]knee below {r.min_knee_users} users[/red]", highlight=False)
    print_gaps(r.gaps, out)
    out.print(f"reports: {r.run_dir / 'report.html'}, {r.run_dir / 'locust_stats.csv'}, "
              f"{r.run_dir / 'locust_stats_history.csv'}, {png}", highlight=False)
    verdict = "[green]passed[/green]" if r.passed else "[red]FAILED[/red]"
    out.print(f"{verdict}: {len(r.misses)} gate(s) missed, {len(r.gaps)} reconciliation gap(s)")


def print_gaps(gaps: list[str], out: Console) -> None:
    for gap in gaps[:50]:
        out.print(f"[red]gap[/red] {gap}", highlight=False)
    if len(gaps) > 50:
        out.print(f"[red]… and {len(gaps) - 50} more gaps[/red]")
    if not gaps:
        out.print("reconciled: every event has its effect, every artifact row its object, nothing acknowledged is missing")


def rereconcile(environment: Environment, run_dir: Path, keep: bool, out: Console) -> bool:
    """Reconcile a kept run again (after the fact, or after planting a gap); True when a gap remains."""
    try:
        run_id = json.loads((run_dir / "summary.json").read_text())["run_id"]
    except (FileNotFoundError, KeyError, ValueError):
        raise EstateError(f"{run_dir} holds no campaign run (summary.json with its run_id)") from None
    gaps = reconcile(environment, run_id, run_dir)
    print_gaps(gaps, out)
    if not keep:
        cleanup(environment, run_id)
    return bool(gaps)
