"""`estate verify`: the checks hold on the local estate, and fail visibly when something is wrong."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from checks import Outcome, run_checks, write_report
from estate.environment import Credential, Environment, Role
from estate.local import LocalEstate


@pytest.fixture(scope="module", autouse=True)
def healthy(local_estate: LocalEstate) -> None:
    """A healthy estate as `make demo` leaves it before it verifies: migrated, seeded, and a fresh
    backup uploaded to its bucket."""
    for step in (["migrate"], ["seed", "--scale", "1"], ["backup", "--upload"]):
        proc = subprocess.run([sys.executable, "-m", "estate", *step, "--workdir", str(local_estate.layout.workdir)],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"estate {' '.join(step)}: {proc.stdout}{proc.stderr}"


def test_every_check_holds_or_is_reported_unsupported(env: Environment) -> None:
    results = run_checks(env)
    assert {r.store for r in results} == {"postgres", "mongo", "nats", "minio"}
    assert [r for r in results if r.outcome == Outcome.fails] == []
    unsupported = [r for r in results if r.outcome == Outcome.unsupported]
    if env.store("mongo").server == "ferretdb":
        # what FerretDB lacks is reported, visibly, and nothing else is unsupported on the local estate
        assert {(r.store, r.check) for r in unsupported} == {
            ("mongo", "replica set with majority writes"),
            ("mongo", "concurrent updates of one document are not lost"),
            ("mongo", "declared features the server lacks"),
            ("mongo", "default write concern and journaling as declared"),
            ("mongo", "readonly cannot write"),
            ("mongo", "no role but admin is superuser"),
        }
        lost = next(r for r in unsupported if r.check == "concurrent updates of one document are not lost")
        assert "updates were lost" in lost.detail


def test_wrong_credentials_make_checks_fail(env: Environment) -> None:
    bad = env.model_copy(deep=True)
    store = bad.stores["minio"]
    store.credentials[Role.app] = Credential(username=store.credentials[Role.app].username, password="wrong-secret")
    results = run_checks(bad, {"minio"})
    failed = [r for r in results if r.outcome == Outcome.fails]
    assert [r.check for r in failed] == ["tls round trip", "app cannot change schema or drop"]


def test_verify_cli_reports_and_exits_zero(local_estate: LocalEstate, tmp_path) -> None:
    report = tmp_path / "verify.xml"
    proc = subprocess.run([sys.executable, "-m", "estate", "verify", "--workdir", str(local_estate.layout.workdir),
                           "--report", str(report)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 fail" in proc.stdout
    suite = ET.parse(report).getroot()  # JUnit XML, as CI systems read it
    cases = suite.findall("testcase")
    assert suite.get("failures") == "0" and len(cases) == int(suite.get("tests")) > 10
    assert {c.get("classname") for c in cases} == {f"estate.{k}" for k in ("postgres", "mongo", "nats", "minio")}
    assert len([c for c in cases if c.find("skipped") is not None]) == int(suite.get("skipped"))


def test_verify_report_marks_failures(env: Environment, tmp_path) -> None:
    bad = env.model_copy(deep=True)
    store = bad.stores["nats"]
    store.credentials[Role.app] = Credential(username=store.credentials[Role.app].username, password="wrong-secret")
    results = run_checks(bad, {"nats"})
    write_report(results, bad.name, tmp_path / "r.xml")
    write_report(results, bad.name, tmp_path / "r.json")
    failed = [c.get("name") for c in ET.parse(tmp_path / "r.xml").getroot().iter("testcase") if c.find("failure") is not None]
    as_json = json.loads((tmp_path / "r.json").read_text())["results"]
    assert failed == [r["check"] for r in as_json if r["outcome"] == "FAILS"] != []
