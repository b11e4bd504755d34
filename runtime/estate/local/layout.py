"""Where the local estate keeps things: ports, directories and generated secrets in one work dir."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import secrets as pysecrets
from dataclasses import dataclass
from pathlib import Path

from estate.errors import EstateError
from estate.local.files import new_password, write_private

DEFAULT_BASE_PORT = 24000
# Work dirs the postgres system user could not reach where they were asked for live here instead.
RELOCATED_ROOT = Path(os.environ.get("ESTATE_RELOCATED_ROOT", "/var/lib/estate"))
ROLES = ("admin", "app", "readonly")


@dataclass(frozen=True)
class Ports:
    """Every port the local estate listens on, derived from one base port."""

    base: int

    @property
    def pg_primary(self) -> int:
        return self.base

    @property
    def pg_standby(self) -> int:
        return self.base + 1

    @property
    def pg_scratch(self) -> int:
        """A throwaway server of the point-in-time recovery drill."""
        return self.base + 2

    def nats_client(self, i: int) -> int:
        return self.base + 10 + i

    def nats_route(self, i: int) -> int:
        return self.base + 20 + i

    def nats_monitor(self, i: int) -> int:
        return self.base + 30 + i

    @property
    def minio(self) -> int:
        return self.base + 40

    @property
    def minio_console(self) -> int:
        return self.base + 41

    def mongo(self, i: int = 0) -> int:
        return self.base + 50 + i

    def mongo_debug(self, i: int = 0) -> int:
        return self.base + 60 + i


class Layout:
    """The work dir of one local estate: config, TLS, secrets, data, logs and pid files."""

    def __init__(self, workdir: Path, base_port: int | None = None):
        # The work dir as named, when it is a link to where the data lives (see reachable_home).
        self.link: Path | None = workdir.absolute() if workdir.is_symlink() else None
        self.workdir = workdir.resolve()
        if self.link is None and not self.workdir.exists() and (home := reachable_home(self.workdir)):
            self.link, self.workdir = workdir.absolute(), home
        self.config_file = self.workdir / "estate.json"
        stored = self._stored_config()
        if base_port is not None and stored and stored["base_port"] != base_port:
            raise EstateError(
                f"work dir {self.workdir} was created with base port {stored['base_port']}, not {base_port}; "
                "use the same --base-port or another --workdir"
            )
        self.ports = Ports(stored["base_port"] if stored else base_port or DEFAULT_BASE_PORT)
        self.tls_dir = self.workdir / "tls"
        self.run_dir = self.workdir / "run"
        self.log_dir = self.workdir / "logs"
        self.secrets_file = self.workdir / "secrets.json"
        self.environment_file = self.workdir / "environment.json"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.crt"

    def _stored_config(self) -> dict | None:
        try:
            data = json.loads(self.config_file.read_text())
            int(data["base_port"])
            return data
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise EstateError(f"corrupt work dir: {self.config_file} is not valid estate config") from None

    def exists(self) -> bool:
        return self.config_file.exists()

    def create(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.link is not None and not self.link.is_symlink():
            self.link.parent.mkdir(parents=True, exist_ok=True)
            self.link.symlink_to(self.workdir, target_is_directory=True)
        self.workdir.chmod(0o755)  # the postgres user must traverse it; secrets inside are 0600
        for d in (self.run_dir, self.log_dir):
            d.mkdir(exist_ok=True)
        if not self.config_file.exists():
            self.config_file.write_text(json.dumps({"base_port": self.ports.base}) + "\n")
        if not self.secrets_file.exists():
            write_private(self.secrets_file, json.dumps(_generate_secrets(), indent=2))

    def secrets(self) -> dict:
        try:
            data = json.loads(self.secrets_file.read_text())
        except FileNotFoundError:
            raise EstateError(f"no secrets in {self.workdir}: run `estate up` first") from None
        except ValueError:
            raise EstateError(f"corrupt work dir: {self.secrets_file} is not valid JSON") from None
        if self.secrets_file.stat().st_mode & 0o077:
            raise EstateError(f"{self.secrets_file} is readable by others; expected mode 0600")
        return data


def _generate_secrets() -> dict:
    users = {role: {"username": role, "password": new_password()} for role in ROLES}
    return {
        "postgres": {**users, "replicator": {"username": "replicator", "password": new_password()}},
        "mongo": {role: {"username": role, "password": new_password()} for role in ROLES},
        "nats": {
            **{role: {"username": role, "password": new_password()} for role in ROLES},
            "route": {"username": "route", "password": new_password()},
            "system": {"username": "system", "password": new_password()},
        },
        "minio": {
            "admin": {"username": "estate-admin", "password": new_password(40)},
            "app": {"username": "estate-app", "password": new_password(40)},
            "readonly": {"username": "estate-readonly", "password": new_password(40)},
            "kms_key": "estate-sse:" + base64.b64encode(pysecrets.token_bytes(32)).decode(),
        },
    }


def service_user(name: str) -> tuple[int, int] | None:
    """(uid, gid) to run a server as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        raise EstateError(f"running as root needs the system user {name!r} (created by the Debian postgresql package)") from None
    return pw.pw_uid, pw.pw_gid


def reachable_home(workdir: Path) -> Path | None:
    """Where to keep a new work dir instead, when we run as root and the postgres user could not reach
    ``workdir`` (a clone under a private 0700 directory): under RELOCATED_ROOT, named after the path, with
    ``workdir`` made a symlink to it. None when ``workdir`` itself is fine."""
    if os.geteuid() != 0:
        return None
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return None
    blocked = [p for p in workdir.parents if p.exists() and p.stat().st_uid != uid and not p.stat().st_mode & 0o001]
    if not blocked:
        return None
    digest = hashlib.sha256(str(workdir).encode()).hexdigest()[:10]
    return RELOCATED_ROOT / f"{workdir.parent.name or 'root'}-{workdir.name.lstrip('.') or 'estate'}-{digest}"


def check_traversable(path: Path, uid: int) -> None:
    """Fail clearly if a non-root service user cannot reach ``path`` (e.g. a 0700 temp dir above it)."""
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            raise EstateError(
                f"the postgres user cannot enter {parent} (mode {oct(st.st_mode & 0o777)}); "
                "choose a --workdir under a traversable directory such as /tmp or /srv"
            )
