"""Profile campaigns of the platform's flows: gates fail a run that misses them, reconciliation catches a
planted gap, reports are written, and --workers spreads users over several processes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from estate.environment import Environment, Role
from estate.errors import EstateError
from estate.load_profile import load_profile, shipped
from estate.seed.generate import BUCKET_AI_ARTIFACTS
from estate.stores import adapter



def write_profile(path: Path, **overrides) -> Path:
    """The smoke profile with ``overrides``."""
    path.write_text(yaml.safe_dump(load_profile("smoke").model_dump(mode="json") | overrides))
    return path


def test_shipped_profiles_load_and_bad_ones_name_the_key(tmp_path: Path) -> None:
    assert {"smoke", "baseline", "peak", "soak"} <= set(shipped())
    for name in shipped():
        assert load_profile(name).max_requests > 0  # every campaign stops by itself
    assert load_profile("peak").steps is not None
    bad = tmp_path / "bad.yaml"
    for text, needle in (("users: many", "users"), ("weights: {chat: 1, kafka: 2}", "kafka"),
                         ("gates: {'*': {p95_ms: -1}}", "gates.*.p95_ms"), ("colour: blue", "colour")):
        bad.write_text(yaml.safe_dump(load_profile("smoke").model_dump(mode="json") | yaml.safe_load(text)))
        with pytest.raises(EstateError, match=needle) as exc:
            load_profile(bad)
        assert "\n" not in str(exc.value)
    with pytest.raises(EstateError, match="no profile 'nope'"):
        load_profile("nope")


def test_clean_smoke_campaign_passes_writes_reports_and_cleans_up(seeded: Environment, load_cli, tmp_path: Path) -> None:
    proc = load_cli("--profile", "smoke", "--run-dir", str(tmp_path / "run"), "--duration", "8")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "passed: 0 gate(s) missed, 0 reconciliation gap(s)" in proc.stdout
    run = tmp_path / "run"
    assert yaml.safe_load((run / "profile.yaml").read_text())["duration_s"] == 8  # --duration overrides the profile's 10 s
    for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "timeline.png", "summary.json"):
        assert (run / name).stat().st_size > 0, name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["shape"]["stopped_by"] == "duration"
    # the mix is weighted at random: the heavy chat flow always runs, and several flow families with it
    ran = {op for op, stats in summary["operations"].items() if stats["requests"] > 0}
    assert {"chat: append messages", "chat: open session"} <= ran, ran
    assert len({op.split(":")[0] for op in ran}) >= 2, ran
    history = (run / "locust_stats_history.csv").read_text()
    assert all(op in history for op in ran)  # every operation over time, not just the total
    with adapter(seeded, "postgres").connect(Role.app) as conn:
        left = conn.execute("SELECT count(*) FROM chat_sessions WHERE user_id = %s", (summary["run_id"],)).fetchone()[0]
    assert left == 0  # the run's data is gone again


def test_impossible_gate_fails_the_run(seeded: Environment, load_cli, tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "strict.yaml", duration_s=4, gates={"*": {"p95_ms": 0.001}})
    proc = load_cli("--profile", str(profile), "--run-dir", str(tmp_path / "run"))
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "p95" in proc.stdout and "> 0.001 ms" in proc.stdout and "FAILED" in proc.stdout


def test_reconciliation_reports_a_planted_gap(seeded: Environment, load_cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = load_cli("--profile", "smoke", "--run-dir", str(run), "--keep")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run_id = json.loads((run / "summary.json").read_text())["run_id"]
    try:
        with adapter(seeded, "mongo").client(Role.app) as mongo:
            bot = mongo["bot_runner"]["bots"].find_one({"user_id": run_id})
            mongo["bot_runner"]["bots"].delete_one({"_id": bot["_id"]})  # an event without its effect
        with adapter(seeded, "postgres").connect(Role.app) as conn:
            key = conn.execute("SELECT a.file_path FROM artifacts a JOIN chat_sessions s ON s.id = a.session_id "
                               "WHERE s.user_id = %s LIMIT 1", (run_id,)).fetchone()[0]
        minio = adapter(seeded, "minio").client(Role.app)
        for v in minio.list_objects(BUCKET_AI_ARTIFACTS, prefix=key, include_version=True):
            minio.remove_object(BUCKET_AI_ARTIFACTS, v.object_name, version_id=v.version_id)  # a row without its object
        proc = load_cli("--reconcile", str(run), "--keep")
        assert proc.returncode == 1, proc.stdout
        assert f"bot {bot['_id']}: 0 documents in bot_runner.bots" in proc.stdout
        assert f"object {BUCKET_AI_ARTIFACTS}/{key} missing" in proc.stdout
    finally:
        load_cli("--reconcile", str(run))  # and clean the run up


def test_workers_run_users_in_several_processes(seeded: Environment, load_cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = load_cli("--profile", "smoke", "--run-dir", str(run), "--workers", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    per_pid = {p.stem: sum(row[2] for row in json.loads(p.read_text())) for p in run.glob("timeline-*.json")}
    assert len(per_pid) == 2 and all(n > 0 for n in per_pid.values()), per_pid  # two worker processes, each ran requests
    assert "Locust processes that ran users: 2" in proc.stdout
    summary = json.loads((run / "summary.json").read_text())
    # the master ends with its shape, not at the hard stop 120 s after the profile's duration
    assert summary["shape"]["stopped_by"] == "duration" and summary["seconds"] < load_profile("smoke").duration_s + 60, summary


def test_a_ramp_step_judges_the_operations_that_ran_a_whole_run_every_gate() -> None:
    profile = load_profile("peak")
    ran = {"chat: append messages": {"requests": 10, "failures": 0, "rps": 5.0, "p50_ms": 5, "p95_ms": 9, "p99_ms": 9}}
    assert profile.judge(ran, every_gate=False) == []  # at 2 users no custom-bot user ran: not a broken gate
    assert ("custom bot: submitted → visible", "no requests") in profile.judge(ran)
    slow = {name: op | {"p95_ms": 900} for name, op in ran.items()}
    assert profile.judge(slow, every_gate=False) == [("chat: append messages", "p95 900.0 ms > 250 ms")]


def test_campaign_during_a_postgres_failover_reports_the_window_and_loses_nothing(seeded: Environment, load_cli,
                                                                                   tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "fault.yaml", duration_s=20, gates={"*": {"max_error_rate": 1.0}})
    proc = load_cli("--profile", str(profile), "--run-dir", str(tmp_path / "run"), "--during", "failover:postgres")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "during the fault" in proc.stdout and "failover:postgres" in proc.stdout
    assert ", 0 lost," in proc.stdout  # the drill's ledger: no acknowledged write lost
    assert "0 reconciliation gap(s)" in proc.stdout  # nor any the flows acknowledged


def test_during_names_a_known_fault(load_cli, tmp_path: Path) -> None:
    proc = load_cli("--profile", "smoke", "--during", "failover:kafka")
    assert proc.returncode != 0 and "failover:postgres|nats|minio" in proc.stderr and "Traceback" not in proc.stderr


def test_duration_override_is_validated_like_the_profile(load_cli) -> None:
    proc = load_cli("--profile", "smoke", "--duration", "0")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "--duration 0: duration_s: Input should be greater than 0" in proc.stderr, proc.stderr


def test_step_ramp_reports_the_knee_where_a_planted_delay_breaks_the_gate(seeded: Environment, load_cli,
                                                                          tmp_path: Path) -> None:
    """A trigger makes every chat append sleep 0.4 s once more than 3 of the run's users hold a PostgreSQL
    connection: a ramp of 1, 2, 3, 4… chat users must break its p50 gate at 4 users, report the knee at 3
    and stop by itself there, long before its duration or its last step."""
    profile = write_profile(tmp_path / "ramp.yaml", users=8, spawn_rate=10, duration_s=300, max_requests=10_000_000, bot_workers=0,
                            weights={"chat": 1, "custom_bot": 0, "backtests": 0, "market": 0},
                            steps={"start_users": 1, "step_users": 1, "step_s": 4, "max_users": 8, "min_knee_users": 1},
                            gates={"chat: append messages": {"p50_ms": 200}})
    pg = adapter(seeded, "postgres")
    app = seeded.store("postgres").credential(Role.app).username
    with pg.connect(Role.admin, autocommit=True) as conn:
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (app,)).fetchone()[0]
        conn.execute(f"""CREATE FUNCTION estate_planted_knee() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user) > {others + 3} THEN
                PERFORM pg_sleep(0.4);
              END IF;
              RETURN NULL;
            END $$""")
        conn.execute("CREATE TRIGGER estate_planted_knee BEFORE INSERT ON chat_messages "
                     "FOR EACH STATEMENT EXECUTE FUNCTION estate_planted_knee()")
        try:
            proc = load_cli("--profile", str(profile), "--run-dir", str(tmp_path / "run"))
        finally:
            conn.execute("DROP TRIGGER estate_planted_knee ON chat_messages")
            conn.execute("DROP FUNCTION estate_planted_knee()")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    shape = json.loads((tmp_path / "run" / "summary.json").read_text())["shape"]
    assert shape["stopped_by"] == "a gate broke", shape
    assert [s["users"] for s in shape["steps"]] == [1, 2, 3, 4], shape["steps"]
    assert [bool(s["misses"]) for s in shape["steps"]] == [False, False, False, True], shape["steps"]
    assert "chat: append messages: p50" in shape["steps"][-1]["misses"][0]
    assert shape["knee"]["users"] == 3 and shape["knee"]["rps"] == shape["steps"][2]["rps"] > 0
    assert "knee: 3 users" in proc.stdout and "stopped by a gate broke" in proc.stdout
