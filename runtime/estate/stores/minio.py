"""MinIO adapter (minio-py, with the admin API for server health)."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import urllib3
from minio import Minio, MinioAdmin
from minio.credentials import StaticProvider
from minio.error import MinioException, S3Error
from minio.deleteobjects import DeleteObject
from minio.sse import SseS3

from estate.environment import Role
from estate.errors import EstateError, first_line
from estate.stores.base import ServerStatus, StoreAdapter, check_copy_name, is_scratch

PROBE_BUCKET = "estate-probe"
MAX_OBJECT_BYTES = 1 << 30  # 1 GiB: larger uploads belong in a multipart pipeline, not here
THREADS = 8
CHUNK = 1 << 20
INDEX = "objects.jsonl"


class MinioAdapter(StoreAdapter):
    kind = "minio"

    def http(self, connections: int = 1) -> urllib3.PoolManager:
        return urllib3.PoolManager(
            maxsize=connections, cert_reqs="CERT_REQUIRED", ca_certs=str(self.env.ca_file),
            timeout=urllib3.Timeout(connect=5, read=60), retries=urllib3.Retry(total=2, backoff_factor=0.2),
        )

    def client(self, role: Role | str = Role.app, connections: int = 1) -> Minio:
        """A client whose connection pool fits ``connections`` threads."""
        cred = self.store.credential(role)
        return Minio(self.store.endpoint().address, access_key=cred.username,
                     secret_key=cred.password.get_secret_value(), secure=True, http_client=self.http(connections))

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

    # --- backup, restore, checksum: each bucket's current objects with content type and metadata ------

    def _buckets(self, client: Minio, copy: str | None) -> dict[str, str]:
        """Unit (the live bucket's name) -> the bucket to read."""
        names = [b.name for b in client.list_buckets()]
        if copy is None:
            return {n: n for n in names if not is_scratch(n)}
        prefix = _bucket_prefix(copy)
        return {n[len(prefix):]: n for n in names if n.startswith(prefix)}

    def _objects(self, client: Minio, bucket: str, save: Path | None = None) -> list[dict]:
        """Every current object of ``bucket`` in key order: key, content type, user metadata, sha256 of
        its bytes; with ``save``, the bytes are written there as numbered files."""
        def fetch(n_item) -> dict:
            n, item = n_item
            digest, file = hashlib.sha256(), None if save is None else f"{n:08d}.bin"
            resp = client.get_object(bucket, item.object_name)
            try:
                meta = {k.lower(): v for k, v in resp.headers.items()}
                with open(save / file, "wb") if file else contextlib.nullcontext() as sink:
                    for chunk in resp.stream(CHUNK):  # streamed: objects may be up to 1 GiB each
                        digest.update(chunk)
                        if sink:
                            sink.write(chunk)
            finally:
                resp.close()
                resp.release_conn()
            entry = {"key": item.object_name, "content_type": meta.get("content-type", ""),
                     "metadata": {k[len("x-amz-meta-"):]: v for k, v in sorted(meta.items()) if k.startswith("x-amz-meta-")},
                     "sha256": digest.hexdigest()}
            return entry | ({"file": file} if file else {})

        items = sorted(client.list_objects(bucket, recursive=True), key=lambda i: i.object_name)
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(fetch, enumerate(items)))

    def _each_bucket(self, copy: str | None, dest: Path | None = None) -> dict[str, str]:
        """Digest per bucket; with ``dest``, each bucket is saved to ``dest/<bucket>/`` with an index."""
        client = self.client(Role.admin, THREADS)
        digests = {}
        try:
            for unit, bucket in sorted(self._buckets(client, copy).items()):
                folder = None if dest is None else dest / unit
                if folder is not None:
                    folder.mkdir(parents=True, exist_ok=True)
                objects = self._objects(client, bucket, folder)
                if folder is not None:
                    (folder / INDEX).write_text("".join(json.dumps(o) + "\n" for o in objects))
                digests[unit] = _digest(objects)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError) as exc:
            raise EstateError(f"minio: {first_line(exc)}") from None
        return digests

    def checksum(self, copy: str | None = None) -> dict[str, str]:
        return self._each_bucket(copy)

    def backup(self, dest: Path) -> dict[str, str]:
        return self._each_bucket(None, dest)

    def restore(self, src: Path, copy: str) -> None:
        self.drop_copy(copy)
        client, sse = self.client(Role.admin, THREADS), SseS3()

        def put(bucket: str, folder: Path, entry: dict) -> None:
            client.fput_object(bucket, entry["key"], str(folder / entry["file"]), content_type=entry["content_type"],
                               metadata=entry["metadata"], sse=sse)

        try:
            for index in sorted(src.glob(f"*/{INDEX}")):
                bucket = _bucket_prefix(copy) + index.parent.name
                client.make_bucket(bucket)
                entries = [json.loads(line) for line in index.read_text().splitlines()]
                with ThreadPoolExecutor(THREADS) as pool:
                    list(pool.map(lambda e: put(bucket, index.parent, e), entries))
        except (S3Error, MinioException, urllib3.exceptions.HTTPError) as exc:
            raise EstateError(f"minio restore: {first_line(exc)}") from None

    def drop_copy(self, copy: str) -> None:
        check_copy_name(copy)
        client = self.client(Role.admin, THREADS)
        try:
            for bucket in self._buckets(client, copy).values():
                for err in client.remove_objects(bucket, [DeleteObject(o.object_name, o.version_id) for o in
                                                          client.list_objects(bucket, recursive=True, include_version=True)]):
                    raise EstateError(f"minio drop {bucket}: {err}")
                client.remove_bucket(bucket)
        except (S3Error, MinioException, urllib3.exceptions.HTTPError) as exc:
            raise EstateError(f"minio drop {copy}: {first_line(exc)}") from None

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


def _bucket_prefix(copy: str) -> str:
    return copy.replace("_", "-") + "-"  # bucket names allow no underscores


def _digest(objects: list[dict]) -> str:
    """``count:sha256`` over each object's key, content type, user metadata and content digest, in key order."""
    h = hashlib.sha256()
    for obj in objects:
        h.update(json.dumps([obj["key"], obj["content_type"], obj["metadata"], obj["sha256"]]).encode())
    return f"{len(objects)}:{h.hexdigest()}"
