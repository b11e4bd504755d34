"""Writing files safely: secrets are created 0600 from the first byte, never widened later."""
from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path


def write_private(path: Path, data: bytes | str, owner: tuple[int, int] | None = None) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (optionally chown'd to ``owner``)."""
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if owner:
        os.chown(tmp, *owner)
    os.replace(tmp, path)


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner may enter: created so, or narrowed if it is wider."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def write_public(path: Path, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


_ALPHABET = string.ascii_letters + string.digits


def new_password(length: int = 32) -> str:
    """A random password made of letters and digits (safe in URLs and config files)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
