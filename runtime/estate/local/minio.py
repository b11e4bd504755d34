"""Local MinIO: one server process over four drives, erasure-coded, TLS, with a KMS key for SSE.

Why one process with four drives and not four processes: on a 2-core machine four MinIO servers
cost four times the memory and start-up time, and the property the harness proves — losing one drive
keeps every object readable and writable (EC:2 over 4 drives) — is the same. Node loss is what the
Kubernetes deployment (≥4 pods) covers.
"""
from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.request

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider

from estate.environment import Credential, Endpoint, Role, Store
from estate.local.binaries import ensure_go_tool
from estate.local.files import private_dir, write_private
from estate.local.layout import Layout
from estate.local.process import ServerProcess
from infra.stores.minio import APP_POLICY, app_policy

DRIVES = 4


class LocalMinio:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.root = layout.workdir / "minio"
        self.certs = self.root / "certs"

    def drive(self, i: int):
        return self.root / f"d{i}"

    def processes(self, binary: str = "minio") -> list[ServerProcess]:
        sec = self.layout.secrets()["minio"]
        p = self.layout.ports
        return [
            ServerProcess(
                name="minio",
                argv=[binary, "server", "--quiet", "--address", f"127.0.0.1:{p.minio}",
                      "--console-address", f"127.0.0.1:{p.minio_console}", "--certs-dir", str(self.certs),
                      str(self.root / f"d{{1...{DRIVES}}}")],
                run_dir=self.layout.run_dir, log_dir=self.layout.log_dir, ports=[p.minio, p.minio_console],
                env={
                    "MINIO_ROOT_USER": sec["admin"]["username"],
                    "MINIO_ROOT_PASSWORD": sec["admin"]["password"],
                    "MINIO_KMS_SECRET_KEY": sec["kms_key"],
                    "MINIO_BROWSER": "off",
                    "MINIO_UPDATE": "off",
                    "MINIO_CALLHOME_ENABLE": "off",
                    # the four drives are directories on the machine's root filesystem, which MinIO
                    # refuses ("drive not found") unless told this is a test/CI deployment
                    "MINIO_CI_CD": "on",
                },
            )
        ]

    def up(self, progress) -> None:
        binary = ensure_go_tool("minio", progress)
        for path in (self.root, self.certs, *(self.drive(i) for i in range(1, DRIVES + 1))):
            private_dir(path)  # the drives hold the objects; others may not even list them
        (self.certs / "CAs").mkdir(exist_ok=True)
        tls = self.layout.tls_dir
        shutil.copyfile(tls / "server.crt", self.certs / "public.crt")
        shutil.copyfile(tls / "ca.crt", self.certs / "CAs" / "ca.crt")
        key = self.certs / "private.key"
        if not key.exists():
            write_private(key, (tls / "server.key").read_bytes())
        (proc,) = self.processes(binary)
        proc.start()
        proc.wait_healthy(self._healthy, timeout=90)
        self._ensure_users()

    def _http(self) -> urllib3.PoolManager:
        return urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(self.layout.ca_file),
                                   timeout=urllib3.Timeout(connect=3, read=30), retries=False)

    def _healthy(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.layout.ca_file))
        url = f"https://127.0.0.1:{self.layout.ports.minio}/minio/health/cluster"
        with urllib.request.urlopen(url, context=ctx, timeout=3) as resp:
            return resp.status == 200

    def replace_drive(self, i: int) -> None:
        """Fault injection: swap drive ``i`` for an empty one, as after a disk replacement."""
        # MinIO keeps writing into its drives (.minio.sys/tmp), so deleting in place races with it:
        # move the drive aside atomically, put an empty one in its place, then delete the old one.
        drive = self.drive(i)
        removed = drive.with_name(f"{drive.name}.removed-{time.monotonic_ns()}")
        drive.rename(removed)
        drive.mkdir(mode=0o700)
        shutil.rmtree(removed, ignore_errors=True)

    def wait_healed(self, timeout: float = 90) -> bool:
        """Whether every drive reports ok again within ``timeout`` (MinIO formats a replaced drive itself)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = json.loads(self.admin().info())
            drives = [d for srv in info.get("servers", []) for d in srv.get("drives", [])]
            if len(drives) == DRIVES and all(d.get("state") == "ok" for d in drives):
                return True
            time.sleep(1)
        return False

    def drives_contain(self, needle: bytes) -> bool:
        """Whether any file on the raw drives holds ``needle`` (an encryption-at-rest probe)."""
        for i in range(1, DRIVES + 1):
            for path in self.drive(i).rglob("*"):
                if path.is_file() and needle in path.read_bytes():
                    return True
        return False

    def admin(self) -> MinioAdmin:
        sec = self.layout.secrets()["minio"]["admin"]
        return MinioAdmin(endpoint=f"127.0.0.1:{self.layout.ports.minio}",
                          credentials=StaticProvider(sec["username"], sec["password"]),
                          secure=True, http_client=self._http())

    def _ensure_users(self) -> None:
        sec = self.layout.secrets()["minio"]
        admin = self.admin()
        admin.policy_add(APP_POLICY, policy=app_policy())  # replaces it: an older estate converges too
        existing = json.loads(admin.user_list() or "{}")
        for role, policy in (("app", APP_POLICY), ("readonly", "readonly")):
            user = sec[role]["username"]
            if user not in existing:
                admin.user_add(user, sec[role]["password"])
            attached = json.loads(admin.user_info(user)).get("policyName", "")
            if attached != policy:
                if attached:
                    admin.detach_policy(attached.split(","), user=user)
                admin.attach_policy([policy], user=user)

    def client(self, role: str = "app") -> Minio:
        sec = self.layout.secrets()["minio"][role]
        return Minio(f"127.0.0.1:{self.layout.ports.minio}", access_key=sec["username"],
                     secret_key=sec["password"], secure=True, http_client=self._http())

    def store(self) -> Store:
        sec = self.layout.secrets()["minio"]
        return Store(
            kind="minio", server="minio", version=self._version(),
            endpoints=[Endpoint(name="minio", host="127.0.0.1", port=self.layout.ports.minio, role="member")],
            credentials={Role(r): Credential(**sec[r]) for r in ("admin", "app", "readonly")},
            capabilities={"erasure_coding": True, "sse_s3": True, "versioning": True, "multi_node": False},
            notes=[f"one process over {DRIVES} drives (EC:2): survives the loss of a drive, not of the host"],
        )

    def _version(self) -> str:
        try:
            info = json.loads(self.admin().info())
            return info["servers"][0].get("version", "")
        except Exception:
            return ""
