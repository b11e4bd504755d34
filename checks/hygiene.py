"""Host hygiene of the local estate, read through pytest-testinfra's local backend (`stat`, `ss`, `ps`):
each store's secret files are 0600, its data directories are not world-readable, its servers listen on
loopback only, and no password of the environment shows in a process's command line or in its logs.

A store's processes are those in its pid files and any whose command line names its directory in the
work dir; its secret files are the work dir's shared ones (secrets.json, environment.json, the TLS
keys) and, under its directory, every key, keyFile, passfile and small config file holding a password.
Elsewhere than the local estate these need a host backend: testinfra's kubectl backend is not wired yet.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from pathlib import Path

import testinfra

from checks.registry import Failed, Unsupported, check
from estate.local import LocalEstate
from estate.stores import KINDS
from estate.stores.base import StoreAdapter

SHARED_SECRETS = ("secrets.json", "environment.json", "tls/ca.key", "tls/server.key")  # in the work dir
SECRET_NAMES = ("*.key", "*.pem", "keyfile", "*.pgpass")
CONFIG_SUFFIXES = (".conf", ".json", ".yaml", ".yml", ".env")
CONFIG_MAX = 64 * 1024


class _Local:
    """One store of the local estate as the host sees it."""

    def __init__(self, a: StoreAdapter):
        if a.env.workdir is None:
            raise Unsupported(f"{a.env.name}: host hygiene needs a host backend; kubectl backend not wired yet")
        self.env, self.kind = a.env, a.kind
        self.estate = LocalEstate(a.env.workdir)
        self.server = {"postgres": self.estate.postgres, "nats": self.estate.nats,
                       "minio": self.estate.minio, "mongo": self.estate.mongo}[a.kind]
        self.root: Path = self.server.root
        self.host = testinfra.get_host("local://")

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.estate.layout.workdir))

    def passwords(self, own: bool) -> dict[str, str]:
        """Secret -> what it is: this store's (``own``) or every store's, from the environment and secrets.json."""
        found = {cred.password.get_secret_value(): f"{kind} {role.value} password"
                 for kind, store in self.env.stores.items() if not own or kind == self.kind
                 for role, cred in store.credentials.items()}
        try:  # read directly: Layout.secrets() refuses a file whose mode this module may be about to report
            stored = json.loads(self.estate.layout.secrets_file.read_text())
        except (OSError, ValueError):
            stored = {}
        for kind, entries in stored.items():
            for name, entry in entries.items() if not own or kind == self.kind else ():
                value = entry.get("password") if isinstance(entry, dict) else entry
                if value:
                    found.setdefault(value, f"{kind} {name} secret")
        return found

    def secret_files(self) -> list[Path]:
        workdir, secrets = self.estate.layout.workdir, self.passwords(own=False)
        files = [workdir / name for name in SHARED_SECRETS if (workdir / name).exists()]
        for path in sorted(self.root.rglob("*")):
            try:
                if not path.is_file():
                    continue
                if any(fnmatch.fnmatch(path.name, pattern) for pattern in SECRET_NAMES):
                    files.append(path)
                elif path.suffix in CONFIG_SUFFIXES and path.stat().st_size <= CONFIG_MAX:
                    text = path.read_text(errors="replace")
                    if any(secret in text for secret in secrets):
                        files.append(path)
            except FileNotFoundError:  # a server's temporary file came and went
                continue
        return files

    def data_dirs(self) -> list[Path]:
        """The store's directory and every directory directly in it (data, drives, WAL archive, certs)."""
        return [self.root, *sorted(p for p in self.root.iterdir() if p.is_dir())] if self.root.is_dir() else []

    def processes(self) -> list:
        """Every process on the host (testinfra runs ps -Aww)."""
        return self.host.process.filter()

    def pids(self, processes: list) -> set[int]:
        mine = {pid for p in self.server.processes() if (pid := p.pid()) is not None}
        names_root = re.compile(re.escape(str(self.root)) + r"(?=$|[/\s'\"])")
        return mine | {p.pid for p in processes if names_root.search(p.args)}

    def log_files(self) -> list[Path]:
        logs = {p.log_file for p in self.server.processes()} | set(self.estate.layout.log_dir.glob(f"{self.kind}*"))
        return sorted(p for p in logs if p.is_file())


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return ip.is_loopback or bool(getattr(ip, "ipv4_mapped", None) and ip.ipv4_mapped.is_loopback)


def _secret_modes(a: StoreAdapter) -> str:
    local = _Local(a)
    files = local.secret_files()
    wrong = [(f, mode) for f in files if (mode := local.host.file(str(f)).mode) & 0o077]
    if wrong:
        raise Failed([f"{a.kind} file {local.rel(f)} mode: declared 0600, live {mode:04o}" for f, mode in wrong])
    return f"{len(files)} secret files 0600: {', '.join(sorted({f.name for f in files}))}"


def _data_dirs(a: StoreAdapter) -> str:
    local = _Local(a)
    dirs = local.data_dirs()
    if not dirs:
        raise AssertionError(f"no data directory at {local.rel(local.root)}")
    wrong = [(d, mode) for d in dirs if (mode := local.host.file(str(d)).mode) & 0o006]
    if wrong:
        raise Failed([f"{a.kind} directory {local.rel(d)} mode: declared no access for others (o-rw), live {mode:04o}"
                      for d, mode in wrong])
    return f"{len(dirs)} directories without read or write for others: {', '.join(local.rel(d) for d in dirs)}"


def _loopback_only(a: StoreAdapter) -> str:
    local = _Local(a)
    processes = local.processes()
    pids, by_pid = local.pids(processes), {p.pid: p for p in processes}
    ports = {port for p in local.server.processes() for port in p.ports}
    listening = [spec.split("://", 1) for spec in local.host.socket.get_listening_sockets()]
    exposed = [(proto, *addr.rsplit(":", 1)) for proto, addr in listening
               if proto in ("tcp", "udp") and not _loopback(addr.rsplit(":", 1)[0])]
    differences = []
    for proto, address, port in exposed:
        owners = _owners(local, proto, port)
        if int(port) in ports or owners & pids:
            who = ", ".join(f"{by_pid[p].comm} pid {p}" if p in by_pid else f"pid {p}" for p in sorted(owners)) or "unknown"
            differences.append(f"{a.kind} listener {proto} port {port} ({who}) address: declared loopback only, live {address}")
    if differences:
        raise Failed(differences)
    return f"{len(pids)} processes, ports {', '.join(map(str, sorted(ports)))}: none listens beyond loopback"


def _owners(local: _Local, proto: str, port: str) -> set[int]:
    """Pids holding a listening socket on ``port`` (ss -p; testinfra's socket module does not name them)."""
    out = local.host.run("ss -Hlnp%s sport = :%s", proto[0], port).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", out)}


def _no_password_exposed(a: StoreAdapter) -> str:
    local = _Local(a)
    own, every = local.passwords(own=True), local.passwords(own=False)
    differences = [f"{a.kind} process {p.pid} ({p.comm}) command line: holds the {label}"
                   for p in local.processes() for secret, label in own.items() if secret in p.args]
    logs = local.log_files()
    for log in logs:
        text = log.read_text(errors="replace")
        differences += [f"{a.kind} log {local.rel(log)}: holds the {label}" for secret, label in every.items() if secret in text]
    if differences:
        raise Failed(differences)
    return (f"none of its {len(own)} passwords in any command line; none of the {len(every)} in "
            f"{', '.join(log.name for log in logs)}")


for _kind in KINDS:
    check("host: secret files mode 0600", _kind)(_secret_modes)
    check("host: data directories not world-readable", _kind)(_data_dirs)
    check("host: listening on loopback only", _kind)(_loopback_only)
    check("host: no password in command lines or logs", _kind)(_no_password_exposed)
