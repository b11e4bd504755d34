"""`estate cluster …` refuses bad input in one line, before building or starting anything."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from estate.cluster.control_plane import Cluster, ClusterPorts
from estate.errors import EstateError


def _estate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "estate", "cluster", *args], capture_output=True, text=True,
                          env={**os.environ, "ESTATE_DEBUG": ""}, timeout=120)


def _one_line_error(proc: subprocess.CompletedProcess, text: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("·")]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_base_port_out_of_range(tmp_path: Path) -> None:
    _one_line_error(_estate("up", "--workdir", str(tmp_path / "c"), "--base-port", "80"), "--base-port 80")


def test_port_in_use_is_named_before_anything_is_built(tmp_path: Path) -> None:
    base = 31700
    with socket.socket() as s:
        s.bind(("127.0.0.1", ClusterPorts(base).apiserver))
        s.listen()
        proc = _estate("up", "--workdir", str(tmp_path / "c"), "--base-port", str(base))
    _one_line_error(proc, f"port {ClusterPorts(base).apiserver} on 127.0.0.1 is in use")
    assert "kube-apiserver" in proc.stderr and "building" not in proc.stderr


def test_unusable_workdir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    _one_line_error(_estate("up", "--workdir", str(blocker / "cluster")), "is not usable")


def test_status_and_e2e_without_a_cluster(tmp_path: Path) -> None:
    _one_line_error(_estate("status", "--workdir", str(tmp_path / "none")), "no cluster in")
    _one_line_error(_estate("e2e", "--workdir", str(tmp_path / "none")), "is not running")


def test_missing_binary_is_one_line_and_leaves_nothing_running(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "c", 31800)
    missing = {name: str(tmp_path / "bin" / name) for name in
               ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")}
    with pytest.raises(EstateError, match=rf"etcd: binary not found: {tmp_path}/bin/etcd"):
        cluster.up(lambda _: None, lambda: {"fast-ssd": "Retain"}, binaries=missing)
    assert not cluster.any_running()
    # What `up` prepared before it failed: the PKI and the admin kubeconfig, private.
    assert cluster.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert (cluster.workdir.stat().st_mode & 0o777) == 0o700
    assert Cluster(tmp_path / "c").ports.base == 31800  # later commands find the recorded port


def test_other_base_port_while_running_is_refused(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "c", 31900)
    cluster.workdir.mkdir(parents=True)
    cluster.state_file.write_text('{"base_port": 31900}')
    run = cluster.workdir / "run"
    run.mkdir()
    (run / "etcd.pid").write_text(f"{os.getpid()}\n")  # "running": a live pid
    with pytest.raises(EstateError, match="runs on base port 31900"):
        Cluster(tmp_path / "c", 32000)
