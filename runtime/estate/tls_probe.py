"""TLS handshakes with a store's servers as a client makes them, the protocol version pinned when asked.

Each protocol reaches TLS its own way: PostgreSQL after an SSLRequest message, NATS after the INFO line
it sends in clear, MongoDB/FerretDB, MinIO and HTTPS monitoring ports at once. A pinned old version is
really offered: the client context allows it (``@SECLEVEL=0``), so a refusal is the server's doing.
"""
from __future__ import annotations

import socket
import ssl
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from estate.errors import EstateError, first_line

Preamble = Literal["postgres", "nats", "direct"]
VERSIONS = {"TLS 1.0": ssl.TLSVersion.TLSv1, "TLS 1.1": ssl.TLSVersion.TLSv1_1,
            "TLS 1.2": ssl.TLSVersion.TLSv1_2, "TLS 1.3": ssl.TLSVersion.TLSv1_3}
_PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


@dataclass(frozen=True)
class Target:
    """One TLS listener: a store's server or its HTTPS monitoring port."""

    name: str
    host: str
    port: int
    preamble: Preamble = "direct"


@dataclass(frozen=True)
class Handshake:
    version: str  # as negotiated, e.g. 'TLSv1.3'
    cert: dict    # the peer certificate as ssl.getpeercert() reads it (verified handshakes only)


def _context(version: str | None, ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is not None:
        ctx = ssl.create_default_context(cafile=str(ca_file))  # chain to the CA, host name checked
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if version is not None:
        with warnings.catch_warnings():  # pinning TLS 1.0/1.1 is deprecated, which is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def _start(sock: socket.socket, preamble: Preamble, where: str) -> None:
    """Bring the plain connection to the point where the TLS handshake begins."""
    if preamble == "postgres":
        sock.sendall(_PG_SSL_REQUEST)
        if sock.recv(1) != b"S":
            raise EstateError(f"{where}: the server declined the SSLRequest")
    elif preamble == "nats":
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = sock.recv(1)
            if not chunk:
                raise EstateError(f"{where}: closed before sending INFO")
            line += chunk
        if not line.startswith(b"INFO"):
            raise EstateError(f"{where}: expected INFO, got {line[:20]!r}")


def handshake(target: Target, version: str | None = None, ca_file: Path | None = None, timeout: float = 5) -> Handshake:
    """A TLS handshake with ``target``: pinned to ``version`` if given; verified against ``ca_file`` (chain
    and host name) if given. Raises ssl.SSLError (or a reset) when the handshake fails, EstateError when
    the server cannot be reached at all."""
    where = f"{target.name} {target.host}:{target.port}"
    ctx = _context(version, ca_file)
    try:
        sock = socket.create_connection((target.host, target.port), timeout=timeout)
    except OSError as exc:
        raise EstateError(f"{where}: cannot connect: {first_line(exc)}") from None
    with sock:
        try:
            _start(sock, target.preamble, where)
        except OSError as exc:
            raise EstateError(f"{where}: {first_line(exc)}") from None
        with ctx.wrap_socket(sock, server_hostname=target.host) as tls:
            return Handshake(tls.version() or "", tls.getpeercert() or {})


def accepts(target: Target, version: str) -> bool:
    """Whether ``target`` completes a handshake pinned to ``version``."""
    try:
        handshake(target, version)
        return True
    except ssl.SSLError as exc:
        if exc.reason == "NO_PROTOCOLS_AVAILABLE":  # the client could not offer it: no answer either way
            raise EstateError(f"this client cannot offer {version}: {first_line(exc)}") from None
        return False
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        return False
