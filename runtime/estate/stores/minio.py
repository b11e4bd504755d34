"""MinIO adapter (minio-py, with the admin API for server health)."""
from __future__ import annotations

import io
import json
import uuid

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.error import MinioException, S3Error
from minio.sse import SseS3

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter

PROBE_BUCKET = "estate-probe"
MAX_OBJECT_BYTES = 1 << 30  # 1 GiB: larger uploads belong in a multipart pipeline, not here


class MinioAdapter(StoreAdapter):
    kind = "minio"

    def http(self, tls_verify: bool = True) -> urllib3.PoolManager:
        return urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED" if tls_verify else "CERT_NONE", ca_certs=str(self.env.ca_file),
            timeout=urllib3.Timeout(connect=5, read=60), retries=urllib3.Retry(total=2, backoff_factor=0.2),
        )

    def client(self, role: Role | str = Role.app) -> Minio:
        cred = self.store.credential(role)
        return Minio(self.store.endpoint().address, access_key=cred.username,
                     secret_key=cred.password.get_secret_value(), secure=True, http_client=self.http())

    def admin(self) -> MinioAdmin:
        cred = self.store.credential(Role.admin)
        return MinioAdmin(endpoint=self.store.endpoint().address,
                          credentials=StaticProvider(cred.username, cred.password.get_secret_value()),
                          secure=True, http_client=self.http())

    def upload(self, bucket: str, key: str, data, length: int, role: Role | str = Role.app, **kw):
        """put_object that refuses objects over MAX_OBJECT_BYTES before reading any of ``data``."""
        if length > MAX_OBJECT_BYTES:
            raise EstateError(f"minio upload {bucket}/{key}: {length} bytes exceeds the 1 GiB limit")
        try:
            return self.client(role).put_object(bucket, key, data, length, **kw)
        except (MinioException, urllib3.exceptions.HTTPError) as exc:
            raise EstateError(f"minio upload {bucket}/{key}: {first_line(exc)}") from None

    def server_info(self) -> dict:
        try:
            return json.loads(self.admin().info())
        except (MinioException, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise EstateError(f"minio {self.store.endpoint().address}: {first_line(exc)}") from None

    def drives(self) -> list[dict]:
        return [d for srv in self.server_info().get("servers", []) for d in srv.get("drives", [])]

    def status(self) -> list[ServerStatus]:
        ep = self.store.endpoint()
        st = ServerStatus(name=ep.name, address=ep.address, up=False, role=ep.role, tls=True)
        try:
            info = self.server_info()
        except EstateError as exc:
            st.detail = str(exc)
            return [st]
        servers = info.get("servers", [])
        drives = [d for s in servers for d in s.get("drives", [])]
        online = sum(1 for d in drives if d.get("state") == "ok")
        st.up = True
        st.version = servers[0].get("version", "") if servers else ""
        if st.version.startswith("DEVELOPMENT"):
            st.version = "source build"  # `go install` builds carry no release tag
        backend = info.get("backend", {})
        st.detail = (f"{online}/{len(drives)} drives online, {backend.get('backendType', '?')} "
                     f"EC:{backend.get('standardSCParity', '?')}")
        st.extra = {"drives_online": online, "drives": len(drives)}
        return [st]

    def roundtrip(self, role: Role = Role.app) -> str:
        client = self.client(role)
        name = f"probe/{uuid.uuid4().hex}"
        body = uuid.uuid4().bytes * 64
        try:
            if not client.bucket_exists(PROBE_BUCKET):
                client.make_bucket(PROBE_BUCKET)
            client.put_object(PROBE_BUCKET, name, io.BytesIO(body), len(body), sse=SseS3())
            stat = client.stat_object(PROBE_BUCKET, name)
            resp = client.get_object(PROBE_BUCKET, name)
            try:
                got = resp.read()
            finally:
                resp.close()
                resp.release_conn()
            client.remove_object(PROBE_BUCKET, name)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError) as exc:
            raise EstateError(f"minio ({role}): {first_line(exc)}") from None
        if got != body:
            raise EstateError("minio round trip read back different bytes")
        if stat.metadata.get("x-amz-server-side-encryption") != "AES256":
            raise EstateError("minio stored the probe object without server-side encryption")
        return "put/stat/get with SSE-S3 over TLS"

    def plaintext_refused(self) -> bool:
        cred = self.store.credential(Role.app)
        plain = Minio(self.store.endpoint().address, access_key=cred.username,
                      secret_key=cred.password.get_secret_value(), secure=False,
                      http_client=urllib3.PoolManager(timeout=3, retries=False))
        try:
            plain.list_buckets()
        except Exception:
            return True
        return False
