"""AES-GCM sealing of secrets at rest (exchange API keys).

The 256-bit key comes from ``ESTATE_SECRET_KEY`` (base64) or a 0600 file in the work dir, created on
first use; it is never stored next to the data it protects.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from estate.errors import EstateError

ENV_VAR = "ESTATE_SECRET_KEY"


def load_key(workdir: Path) -> bytes:
    """The sealing key: the env var if set, else ``workdir/secrets/secret.key`` (created 0600)."""
    if raw := os.environ.get(ENV_VAR):
        key = base64.b64decode(raw)
    else:
        path = Path(workdir) / "secrets" / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(AESGCM.generate_key(bit_length=256))
        if path.stat().st_mode & 0o077:
            raise EstateError(f"{path} is readable by others: chmod 600 it")
        key = path.read_bytes()
    if len(key) != 32:
        raise EstateError(f"the secret key must be 32 bytes, got {len(key)}")
    return key


def seal(key: bytes, plaintext: str, context: bytes = b"") -> bytes:
    """nonce || ciphertext+tag; ``context`` (e.g. the row id) is bound as associated data."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), context)


def unseal(key: bytes, sealed: bytes, context: bytes = b"") -> str:
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], context).decode()
    except InvalidTag:
        raise EstateError("a sealed secret does not decrypt with this key (wrong key or tampered)") from None
