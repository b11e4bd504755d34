"""Work dir layout, secrets handling, PKI and process bookkeeping — without starting servers."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from estate.errors import EstateError
from estate.local.layout import Layout, check_traversable
from estate.local.pki import ensure_pki
from estate.local.process import ServerProcess, port_free


@pytest.fixture(autouse=True)
def _relocations_in_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work dirs that root would relocate (pytest's tmp dirs are 0700) go to a temp dir, not /var/lib/estate."""
    from estate.local import layout as layout_mod

    monkeypatch.setattr(layout_mod, "RELOCATED_ROOT", tmp_path_factory.mktemp("relocated"))


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "w", 31000)
    layout.create()
    first = layout.secrets()
    assert layout.secrets_file.stat().st_mode & 0o777 == 0o600
    layout.create()
    assert layout.secrets() == first
    assert first["postgres"]["app"]["password"] != first["postgres"]["admin"]["password"]
    assert len(first["minio"]["admin"]["password"]) >= 32


def test_widened_secrets_file_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "w", 31000)
    layout.create()
    layout.secrets_file.chmod(0o644)
    with pytest.raises(EstateError, match="readable by others"):
        layout.secrets()


def test_corrupt_config_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "estate.json").write_text("{not json")
    with pytest.raises(EstateError, match="corrupt work dir"):
        Layout(tmp_path)


def test_base_port_is_remembered_and_mismatch_refused(tmp_path: Path) -> None:
    Layout(tmp_path, 31000).create()
    assert Layout(tmp_path).ports.pg_primary == 31000
    with pytest.raises(EstateError, match="base port 31000"):
        Layout(tmp_path, 32000)


def test_pki_server_cert_chains_to_ca_and_names_loopback(tmp_path: Path) -> None:
    ensure_pki(tmp_path)
    cert = x509.load_pem_x509_certificate((tmp_path / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    for key in ("ca.key", "server.key"):
        assert (tmp_path / key).stat().st_mode & 0o777 == 0o600
    # a TLS context accepts the pair
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")


def test_pki_is_not_regenerated(tmp_path: Path) -> None:
    ensure_pki(tmp_path)
    before = (tmp_path / "ca.crt").read_bytes()
    ensure_pki(tmp_path)
    assert (tmp_path / "ca.crt").read_bytes() == before


def test_port_in_use_refuses_start(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not port_free(port)
        proc = ServerProcess("x", ["sleep", "5"], tmp_path, tmp_path, ports=[port])
        with pytest.raises(EstateError, match=f"port {port} on 127.0.0.1 is in use"):
            proc.start()


def test_process_start_stop_by_pid_file(tmp_path: Path) -> None:
    proc = ServerProcess("sleeper", ["sleep", "60"], tmp_path, tmp_path, ports=[])
    pid = proc.start()
    assert proc.running() and proc.start() == pid  # second start is a no-op
    assert proc.stop()
    assert not proc.running() and not proc.pid_file.exists()
    assert not proc.stop()


def test_missing_binary_is_one_line_error(tmp_path: Path) -> None:
    proc = ServerProcess("ghost", ["/nonexistent/ghost-server"], tmp_path, tmp_path, ports=[])
    with pytest.raises(EstateError, match="binary not found: /nonexistent/ghost-server"):
        proc.start()


def test_untraversable_parent_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    (locked / "w").mkdir(parents=True)
    locked.chmod(0o700)
    with pytest.raises(EstateError, match="cannot enter"):
        check_traversable(locked / "w", uid=65534)


def test_cli_without_estate_is_one_line_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "estate", "status", "--workdir", str(tmp_path / "none")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "estate up" in proc.stderr


def test_cli_corrupt_environment_file_is_one_line_error(tmp_path: Path) -> None:
    layout = Layout(tmp_path, 31000)
    layout.create()
    layout.environment_file.write_text(json.dumps({"name": "local"}))
    proc = subprocess.run([sys.executable, "-m", "estate", "env", "--workdir", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "malformed environment file" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0


def test_go_build_failure_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from estate.local import binaries

    monkeypatch.setattr(binaries, "CACHE_BIN", tmp_path / "bin")
    monkeypatch.setitem(binaries.GO_TOOLS, "ghost", binaries.GoTool(
        "ghost", "example.invalid/ghost", "example.invalid/ghost/cmd/ghost", "v0.0.1"))
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    seen: list[str] = []
    with pytest.raises(EstateError, match="go mod download example.invalid/ghost@v0.0.1 failed") as exc:
        binaries.ensure_go_tool("ghost", seen.append)
    assert "\n" not in str(exc.value)
    assert any("building ghost" in line for line in seen)  # progress was shown


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as the postgres user")
def test_a_work_dir_under_a_private_directory_lives_where_postgres_can_reach_it(tmp_path: Path, monkeypatch) -> None:
    """As root in a clone under a 0700 directory, the work dir becomes a link to a reachable home,
    decided before anything is built or started; destroy removes both."""
    import pwd

    from estate.local import LocalEstate
    from estate.local import layout as layout_mod

    reachable = Path(tempfile.mkdtemp(prefix="estate-reachable-", dir="/tmp"))
    reachable.chmod(0o755)
    monkeypatch.setattr(layout_mod, "RELOCATED_ROOT", reachable / "homes")
    private = tmp_path / "home"  # pytest's base temp dir is 0700: the postgres user cannot enter it
    private.mkdir(mode=0o700)
    wanted = private / "clone" / ".estate"
    layout = Layout(wanted)
    assert layout.link == wanted and layout.workdir.parent == reachable / "homes"
    layout.create()
    assert wanted.is_symlink() and wanted.resolve() == layout.workdir
    check_traversable(layout.workdir, pwd.getpwnam("postgres").pw_uid)
    again = Layout(wanted)  # the next command finds the same place through the link
    assert again.workdir == layout.workdir and again.link == wanted
    LocalEstate(wanted).destroy()
    assert not wanted.exists() and not wanted.is_symlink() and not layout.workdir.exists()
    # a reachable work dir stays where it was asked for
    assert Layout(reachable / "open" / ".estate").link is None
    shutil.rmtree(reachable)


def test_cached_tool_is_rebuilt_when_its_pin_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached binary is used only when its stamp names the pinned build; any other is built again."""
    from estate.local import binaries

    monkeypatch.setattr(binaries, "CACHE_BIN", tmp_path / "bin")
    spec = binaries.GoTool("ghost", "example.invalid/ghost", "example.invalid/ghost/cmd/ghost", "v0.0.2",
                           version_var="main.version")
    monkeypatch.setitem(binaries.GO_TOOLS, "ghost", spec)
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    cached = tmp_path / "bin" / "ghost"
    cached.parent.mkdir()
    cached.write_text("#!/bin/sh\n")
    stamp = tmp_path / "bin" / ".ghost.built"
    stamp.write_text(spec.stamp())
    assert binaries.ensure_go_tool("ghost", print) == str(cached)
    for stale in (spec.stamp().replace("v0.0.2", "v0.0.1"), None):  # another pin, or built before stamps
        stamp.unlink(missing_ok=True)
        if stale:
            stamp.write_text(stale)
        with pytest.raises(EstateError, match="go mod download example.invalid/ghost@v0.0.2 failed"):
            binaries.ensure_go_tool("ghost", print)


def test_go_build_shows_which_build_and_how_far(tmp_path: Path) -> None:
    from estate.local import binaries

    go = binaries.go_binary()
    (tmp_path / "go.mod").write_text("module example.com/hello\n\ngo 1.21\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    seen: list[str] = []
    binaries.go_build(go, ["-o", str(tmp_path / "hello"), "."], "go build hello", seen.append, tmp_path)
    total = int(seen[0].split("compiling up to ")[1].split()[0])
    assert total > 10  # fmt and what it imports
    assert seen[-1].startswith("go build hello: done in ")
    assert subprocess.run([str(tmp_path / "hello")], capture_output=True, text=True).stdout == "hi\n"
