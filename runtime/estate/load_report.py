"""What a campaign run reports besides Locust's own CSV and HTML: per-second timelines merged from every
process, the effect of a fault per operation (error window, latency spike), a PNG of throughput and p95
over time per operation with the fault marked, and the terminal tables."""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table


def timeline(run_dir: Path) -> dict[str, dict[int, list]]:
    """operation -> second -> [requests, failures, sorted latencies ms], merged over every process."""
    out: dict[str, dict[int, list]] = defaultdict(dict)
    for path in run_dir.glob("timeline-*.json"):
        for name, second, n, fails, ms in json.loads(path.read_text()):
            slot = out[name].setdefault(second, [0, 0, []])
            slot[0] += n
            slot[1] += fails
            slot[2] += ms
    for per_second in out.values():
        for slot in per_second.values():
            slot[2].sort()
    return out


def processes(run_dir: Path) -> dict[int, int]:
    """pid -> requests it ran (one timeline file per Locust process that ran users)."""
    return {int(p.stem.split("-")[1]): sum(row[2] for row in json.loads(p.read_text()))
            for p in run_dir.glob("timeline-*.json")}


def _pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, math.ceil(q * len(sorted_ms)) - 1)] if sorted_ms else 0.0


def fault_effects(tl: dict[str, dict[int, list]], start: float, end: float) -> dict[str, dict]:
    """Per operation: failures from the fault on, the error window (first to last failed second, relative to
    the fault), and p95 before the fault next to the worst one-second p95 from the fault to 10 s after it ended."""
    out = {}
    for name, per_second in sorted(tl.items()):
        before = sorted(ms for s, (_, _, lat) in per_second.items() if s < start for ms in lat)
        failed = sorted(s for s, (_, f, _) in per_second.items() if f and s >= int(start))
        during = [_pct(lat, 0.95) for s, (_, _, lat) in per_second.items() if start <= s <= end + 10]
        out[name] = {"failures": sum(per_second[s][1] for s in failed),
                     "error_window": (failed[0] - start, failed[-1] + 1 - start) if failed else None,
                     "p95_before_ms": _pct(before, 0.95), "p95_peak_ms": max(during, default=0.0)}
    return out


def plot(tl: dict[str, dict[int, list]], path: Path, title: str, fault: tuple[float, float, str] | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min((s for per in tl.values() for s in per), default=0)
    fig, (ax_rps, ax_p95) = plt.subplots(2, 1, figsize=(12, 8), sharex=True)
    t1 = max((s for per in tl.values() for s in per), default=0)
    colours = plt.get_cmap("tab20").colors
    for i, (name, per_second) in enumerate(sorted(tl.items())):
        seconds = range(t0, t1 + 1)  # a second without requests is 0 req/s and no p95 (a gap in the line)
        style = {"label": name, "linewidth": 1.2, "color": colours[i % len(colours)], "marker": ".", "markersize": 3}
        ax_rps.plot([s - t0 for s in seconds], [per_second.get(s, (0,))[0] for s in seconds], **style)
        ax_p95.plot([s - t0 for s in seconds],
                    [_pct(per_second[s][2], 0.95) if s in per_second else math.nan for s in seconds], **style)
    if fault:
        for ax in (ax_rps, ax_p95):
            ax.axvspan(fault[0] - t0, fault[1] - t0, color="red", alpha=0.12, label=fault[2])
    ax_rps.set_ylabel("requests / s")
    ax_p95.set_ylabel("p95 latency (ms, per second)")
    ax_p95.set_yscale("symlog", linthresh=10)
    ax_p95.set_xlabel("seconds since the first request")
    ax_rps.set_title(title)
    handles, labels = ax_p95.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=4, loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def operations_table(summary: dict, misses: list[tuple[str, str]]) -> Table:
    missed = defaultdict(list)
    for name, miss in misses:
        missed[name].append(miss)
    t = Table(title=f"{summary['profile']}: {summary['seconds']:.1f}s, stopped by {summary['shape'].get('stopped_by')}",
              title_justify="left")
    for col in ("operation", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms", "gate"):
        t.add_column(col, justify="left" if col in ("operation", "gate") else "right")
    for name, op in sorted(summary["operations"].items()):
        verdict = "[red]" + "; ".join(missed.pop(name)) + "[/red]" if name in missed else "[green]met[/green]"
        t.add_row(name, str(op["requests"]), str(op["failures"]), f"{op['rps']:.1f}", f"{op['p50_ms']:.0f}",
                  f"{op['p95_ms']:.0f}", f"{op['p99_ms']:.0f}", verdict)
    for name, items in missed.items():  # gates on operations that never ran
        t.add_row(name, "0", "-", "-", "-", "-", "-", "[red]" + "; ".join(items) + "[/red]")
    return t


def steps_table(shape: dict) -> Table:
    t = Table(title=f"step ramp — knee: {shape['knee']['users']} users, {shape['knee']['rps']:.0f} req/s"
              if shape.get("knee") else "step ramp — no step met every gate", title_justify="left")
    for col in ("users", "req/s", "missed"):
        t.add_column(col, justify="left" if col == "missed" else "right")
    for step in shape.get("steps", []):
        t.add_row(str(step["users"]), f"{step['rps']:.0f}", "[red]" + "; ".join(step["misses"][:3]) + "[/red]"
                  if step["misses"] else "[green]-[/green]")
    return t


def fault_table(effects: dict[str, dict]) -> Table:
    t = Table(title="during the fault", title_justify="left")
    for col in ("operation", "failures", "error window (s after fault)", "p95 before ms", "worst p95 ms"):
        t.add_column(col, justify="left" if col == "operation" else "right")
    for name, e in effects.items():
        window = f"{e['error_window'][0]:.0f} – {e['error_window'][1]:.0f}" if e["error_window"] else "none"
        t.add_row(name, str(e["failures"]), window, f"{e['p95_before_ms']:.0f}", f"{e['p95_peak_ms']:.0f}")
    return t


def print_tables(console: Console, *tables: Table) -> None:
    for table in tables:
        console.print(table)
