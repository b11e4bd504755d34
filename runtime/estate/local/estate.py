"""Bringing the whole local estate up and down, and describing it as an Environment."""
from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
import time
from datetime import timedelta
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from estate.durability import Durability, MinioDurability, NatsDurability, PostgresDurability
from estate.environment import BackupPolicy, Environment
from estate.errors import EstateError
from estate.local.files import write_private
from estate.local.layout import Layout
from estate.local.minio import DRIVES as MINIO_DRIVES, LocalMinio
from estate.local.mongo import LocalMongo
from estate.local.nats import NODES as NATS_NODES, LocalNats
from estate.local.pki import ensure_pki
from estate.local.postgres import LocalPostgres
from estate.local.process import ServerProcess, port_free

DEFAULT_WORKDIR = Path(".estate")


@dataclass
class UpReport:
    started: list[str]
    already_running: list[str]
    seconds: float


class LocalEstate:
    """One local estate living in one work dir."""

    def __init__(self, workdir: Path = DEFAULT_WORKDIR, base_port: int | None = None):
        self.layout = Layout(workdir, base_port)
        self.postgres = LocalPostgres(self.layout)
        self.nats = LocalNats(self.layout)
        self.minio = LocalMinio(self.layout)
        self.mongo = LocalMongo(self.layout)

    @property
    def servers(self):
        return (self.postgres, self.nats, self.minio, self.mongo)

    def processes(self) -> list[ServerProcess]:
        return [p for s in self.servers for p in s.processes()]

    def up(self, progress: Callable[[str], None] = lambda _: None) -> UpReport:
        t0 = time.monotonic()
        self.layout.create()
        ensure_pki(self.layout.tls_dir)
        before = {p.name for p in self.processes() if p.running()}
        self._check_ports()
        # The four stores are independent: start them side by side (NATS's leader election dominates).
        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            futures = [pool.submit(self._up_one, server, progress) for server in self.servers]
            for future in futures:
                future.result()
        env = self.environment()
        write_private(self.layout.environment_file, env.dump_json())
        names = [p.name for p in self.processes()]
        return UpReport(
            started=[n for n in names if n not in before],
            already_running=[n for n in names if n in before],
            seconds=time.monotonic() - t0,
        )

    @staticmethod
    def _up_one(server, progress: Callable[[str], None]) -> None:
        progress(f"{type(server).__name__.removeprefix('Local').lower()}: starting")
        server.up(progress)

    def _check_ports(self) -> None:
        """Fail before starting anything if a port we need is taken by someone else."""
        for proc in self.processes():
            if proc.running():
                continue
            for port in proc.ports:
                if not port_free(port):
                    raise EstateError(
                        f"port {port} on 127.0.0.1 is in use by another process (needed by {proc.name}); "
                        "stop it or choose other ports with --base-port"
                    )

    def down(self) -> list[str]:
        """Stop every process this estate started; data stays. Returns the names stopped."""
        stopped = []
        # Standby before primary so the primary's shutdown does not wait on a sync replica.
        for proc in reversed(self.processes()):
            if proc.stop():
                stopped.append(proc.name)
        return stopped

    def destroy(self) -> None:
        self.down()
        if self.layout.workdir.exists():
            shutil.rmtree(self.layout.workdir)
        if self.layout.link is not None and self.layout.link.is_symlink():
            self.layout.link.unlink()

    def environment(self) -> Environment:
        if not self.layout.exists():
            raise EstateError(f"no local estate in {self.layout.workdir}: run `estate up`")
        return Environment(
            name="local",
            ca_file=self.layout.ca_file,
            stores={store.kind: store for store in (s.store() for s in self.servers)},
            durability=Durability(
                # archive_timeout is 60 s: a busy primary archives at least that often
                postgres=PostgresDurability(archive_max_age_seconds=600),
                nats=NatsDurability(sync_interval="always", stream_replicas=NATS_NODES, stream_storage="file"),
                minio=MinioDurability(parity=2, drives=MINIO_DRIVES),
                notes={
                    "postgres": "fsync=on, synchronous_commit=on, synchronous standby FIRST 1, WAL archived",
                    "nats": "jetstream sync_interval=always",
                    "mongo": "w=majority, j=true" if self.mongo.mongod else "FerretDB/SQLite: single node, journaled",
                    "minio": f"erasure coding EC:2 over {MINIO_DRIVES} drives",
                },
            ),
            # Nothing schedules backups locally: `make demo` takes one with `estate backup --upload`.
            backups=BackupPolicy(schedule="hourly", interval=timedelta(hours=1), margin=timedelta(minutes=15)),
            workdir=self.layout.workdir,
        )
