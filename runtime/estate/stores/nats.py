"""NATS JetStream adapter (nats-py, asyncio; sync callers go through ``run``)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import socket
import ssl
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import nats
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import StorageType, StreamConfig

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter, check_copy_name, is_scratch

GET_CONCURRENCY = 64

T = TypeVar("T")


async def _publish_once_ready(js: Any, subject: str, payload: bytes, wait: float = 10.0) -> Any:
    """Publish to a stream created a moment ago. Until the stream leader's interest has spread over the
    cluster routes (a cluster just restarted), the subject has no responders; that is retried, not a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            return await js.publish(subject, payload)
        except nats.js.errors.NoStreamResponseError:
            if loop.time() > deadline:
                raise EstateError(f"nats: stream for {subject} gave no response for {wait:.0f}s") from None
            await asyncio.sleep(0.2)


async def retrying(call: Callable[[], Awaitable[T]], what: str, wait: float = 30.0) -> T:
    """Await ``call()``, again while JetStream is "temporarily unavailable" or its API does not answer in
    time (its meta group electing a leader, as after start-up, a restart or when a server dies). Only
    for calls that are safe to repeat: reads, and creates/updates to a declared configuration."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        try:
            return await call()
        except (nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError, nats.errors.NoRespondersError):
            if loop.time() > deadline:
                raise EstateError(f"nats: JetStream stayed unavailable for {wait:.0f}s ({what})") from None
            await asyncio.sleep(0.25)


async def add_stream(js: Any, config: StreamConfig) -> Any:
    return await retrying(lambda: js.add_stream(config), f"creating stream {config.name}")


class NatsAdapter(StoreAdapter):
    kind = "nats"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.env.ca_file))

    async def connect(self, role: Role | str = Role.app, servers: list[str] | None = None, **kw: Any) -> Client:
        cred = self.store.credential(role)
        try:
            return await nats.connect(
                servers=servers or self.env.nats_urls(role, with_credentials=False),
                user=cred.username, password=cred.password.get_secret_value(), tls=self.tls_context(),
                connect_timeout=5, error_cb=_quiet, allow_reconnect=kw.pop("allow_reconnect", True),
                max_reconnect_attempts=kw.pop("max_reconnect_attempts", 3), **kw,
            )
        except Exception as exc:  # nats-py raises several unrelated types for "cannot connect"
            raise EstateError(f"nats ({role}): cannot connect: {first_line(exc) or type(exc).__name__}") from None

    def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        # asyncio warns on every TLS close by nats-py ("returning true from eof_received()...")
        logging.getLogger("asyncio").setLevel(logging.ERROR)
        return asyncio.run(fn())

    def status(self) -> list[ServerStatus]:
        async def probe(ep) -> ServerStatus:
            st = ServerStatus(name=ep.name, address=ep.address, up=False, role=ep.role)
            try:
                nc = await self.connect(Role.app, servers=[f"tls://{ep.address}"], allow_reconnect=False)
            except EstateError as exc:
                st.detail = str(exc)
                return st
            info = nc._server_info  # the INFO the server sent on connect
            st.up, st.version, st.tls = True, info.get("version", ""), bool(info.get("tls_required"))
            st.extra = {"server_name": info.get("server_name"), "cluster": info.get("cluster"),
                        "connect_urls": info.get("connect_urls", [])}
            try:
                js = nc.jetstream()
                await js.account_info()
                st.detail = f"server {info.get('server_name')}, cluster {info.get('cluster')}, JetStream on"
            except Exception as exc:
                st.detail = f"JetStream unavailable: {first_line(exc)}"
            await nc.close()
            if ep.monitor_port:
                leader = await asyncio.to_thread(self._meta_leader, ep.host, ep.monitor_port)
                if leader:
                    st.role = "leader" if leader == info.get("server_name") else "follower"
            return st

        async def all_() -> list[ServerStatus]:
            return list(await asyncio.gather(*(probe(ep) for ep in self.store.endpoints)))

        return self.run(all_)

    def _meta_leader(self, host: str, port: int) -> str | None:
        """The JetStream meta-group leader, from the server's HTTPS monitoring endpoint."""
        try:
            with urllib.request.urlopen(f"https://{host}:{port}/jsz", context=self.tls_context(), timeout=3) as r:
                return json.load(r).get("meta_cluster", {}).get("leader")
        except (OSError, ValueError):
            return None

    def roundtrip(self, role: Role = Role.app) -> str:
        replicas = min(3, len(self.store.endpoints))

        async def go() -> str:
            nc = await self.connect(role)
            try:
                js = nc.jetstream()
                name = f"ESTATE_PROBE_{uuid.uuid4().hex[:8].upper()}"
                await add_stream(js, StreamConfig(name=name, subjects=[f"probe.{name}"], storage=StorageType.FILE,
                                                 num_replicas=replicas, max_msgs=10))
                try:
                    token = uuid.uuid4().hex.encode()
                    ack = await _publish_once_ready(js, f"probe.{name}", token)
                    msg = await js.get_msg(name, ack.seq)
                    if msg.data != token:
                        raise EstateError("nats round trip read back a different value")
                finally:
                    await js.delete_stream(name)
            finally:
                await nc.close()
            return f"R{replicas} JetStream stream publish/ack/get over TLS"

        return self.run(go)

    def plaintext_refused(self) -> bool:
        """Speak the NATS protocol in clear text, as a client without TLS would, and expect refusal."""
        ep = self.store.endpoint()
        cred = self.store.credential(Role.app)
        connect = json.dumps({"user": cred.username, "pass": cred.password.get_secret_value(), "verbose": True,
                              "pedantic": False, "tls_required": False})
        try:
            with socket.create_connection((ep.host, ep.port), timeout=5) as sock:
                info = sock.recv(4096).decode(errors="replace")
                sock.sendall(f"CONNECT {connect}\r\nPING\r\n".encode())
                reply = sock.recv(4096).decode(errors="replace")
        except OSError:
            return True
        return "+OK" not in reply and "PONG" not in reply and '"tls_required":true' in info.replace(" ", "")


    # --- backup, restore, checksum: each stream's config and messages (subject, headers, data) ------

    def _copy_names(self, copy: str, stream: str) -> tuple[str, str]:
        """(stream name, subject prefix) of the restored copy of ``stream``."""
        return f"{copy.upper()}_{stream}", f"{copy}."

    async def _streams(self, js, copy: str | None) -> dict[str, str]:
        """Unit (the live stream's name) -> the stream to read."""
        names = [info.config.name for info in await js.streams_info()]
        if copy is None:
            return {n: n for n in names if not is_scratch(n)}
        prefix = f"{copy.upper()}_"
        return {n[len(prefix):]: n for n in names if n.startswith(prefix)}

    async def _messages(self, js, stream: str, strip: str = ""):
        """Every message of ``stream`` in sequence order, as (subject, headers, data); gaps are skipped."""
        state = (await js.stream_info(stream)).state
        first, last = state.first_seq, state.last_seq

        async def get(seq: int):
            try:
                msg = await js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:
                return None
            # Nats-Expected-* headers are the publisher's preconditions (e.g. the stream name), not content
            headers = {k: v for k, v in sorted((msg.headers or {}).items()) if not k.startswith("Nats-Expected-")}
            return msg.subject.removeprefix(strip), headers, msg.data or b""

        for start in range(first, last + 1 if state.messages else first, GET_CONCURRENCY):
            for got in await asyncio.gather(*(get(s) for s in range(start, min(start + GET_CONCURRENCY, last + 1)))):
                if got is not None:
                    yield got

    def checksum(self, copy: str | None = None) -> dict[str, str]:
        async def go() -> dict[str, str]:
            nc = await self.connect(Role.app)
            try:
                js = nc.jetstream()
                out = {}
                for unit, stream in sorted((await self._streams(js, copy)).items()):
                    out[unit] = await _digest(self._messages(js, stream, "" if copy is None else f"{copy}."))
                return out
            finally:
                await nc.close()

        return self.run(go)

    def backup(self, dest: Path) -> dict[str, str]:
        async def go() -> dict[str, str]:
            nc = await self.connect(Role.app)
            try:
                js = nc.jetstream()
                digests = {}
                for unit in sorted(await self._streams(js, None)):
                    info = await js.stream_info(unit)
                    (dest / f"{unit}.json").write_text(json.dumps(info.config.as_dict()))
                    with (dest / f"{unit}.jsonl").open("w") as fh:
                        digests[unit] = await _digest(self._messages(js, unit), fh)
                return digests
            finally:
                await nc.close()

        dest.mkdir(parents=True, exist_ok=True)
        return self.run(go)

    def restore(self, src: Path, copy: str) -> None:
        self.drop_copy(copy)

        async def go() -> None:
            nc = await self.connect(Role.app)
            try:
                js = nc.jetstream()
                for cfg_file in sorted(src.glob("*.json")):
                    config = StreamConfig.from_response(json.loads(cfg_file.read_text()))
                    name, prefix = self._copy_names(copy, config.name)
                    await add_stream(js, config.evolve(name=name, subjects=[prefix + s for s in config.subjects or []]))
                    with cfg_file.with_suffix(".jsonl").open() as fh:
                        pending = []
                        for line in fh:
                            m = json.loads(line)
                            pending.append(await js.publish_async(prefix + m["subject"], base64.b64decode(m["data"]),
                                                                  headers=m["headers"] or None))
                            if len(pending) >= 500:
                                await asyncio.gather(*pending)
                                pending = []
                        await asyncio.gather(*pending)
            finally:
                await nc.close()

        self.run(go)

    def drop_copy(self, copy: str) -> None:
        check_copy_name(copy)

        async def go() -> None:
            nc = await self.connect(Role.app)
            try:
                js = nc.jetstream()
                for stream in (await self._streams(js, copy)).values():
                    await js.delete_stream(stream)
            finally:
                await nc.close()

        self.run(go)


async def _digest(messages, sink=None) -> str:
    """``count:sha256`` over (subject, headers, data) in sequence order; ``sink`` gets JSON lines."""
    h, n = hashlib.sha256(), 0
    async for subject, headers, data in messages:
        h.update(json.dumps([subject, headers]).encode() + b"\0" + data + b"\0")
        if sink is not None:
            sink.write(json.dumps({"subject": subject, "headers": headers,
                                   "data": base64.b64encode(data).decode()}) + "\n")
        n += 1
    return f"{n}:{h.hexdigest()}"


async def _quiet(exc: Exception) -> None:
    """nats-py logs every connection error with a traceback unless given an error callback."""
