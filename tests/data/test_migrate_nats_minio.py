"""NATS stream drift correction; MinIO bucket settings and the upload size limit."""
from __future__ import annotations

import io

import pytest
from minio.commonconfig import ENABLED

from estate.environment import Role
from estate.errors import EstateError
from estate.migrations import migrate
from estate.migrations.minio_store import BUCKETS
from estate.migrations.nats_store import MAX_AGE_SECONDS
from estate.seed.writers import STREAM
from estate.stores import adapter


def _max_age(env, new: float | None = None) -> float:
    nats = adapter(env, "nats")

    async def go():
        nc = await nats.connect(Role.admin)
        try:
            js = nc.jetstream()
            cfg = (await js.stream_info(STREAM)).config
            if new is not None:
                cfg.max_age = new
                await js.update_stream(cfg)
            return (await js.stream_info(STREAM)).config.max_age
        finally:
            await nc.close()

    return nats.run(go)


def test_stream_drift_is_reported_and_corrected(migrated):
    assert _max_age(migrated, 3600) == 3600
    steps = [s for s in migrate(migrated, ["nats"]) if s.what.startswith("stream")]
    assert steps[0].status == "corrected" and "max_age" in steps[0].why
    assert _max_age(migrated) == MAX_AGE_SECONDS
    assert [s.status for s in migrate(migrated, ["nats"])] == ["already applied", "already applied"]


def test_buckets_private_encrypted_versioned(migrated):
    client = adapter(migrated, "minio").client(Role.admin)
    for spec in BUCKETS:
        assert client.get_bucket_encryption(spec.name).rule.sse_algorithm == "AES256"
        assert client.get_bucket_versioning(spec.name).status == ENABLED
        assert client.get_bucket_lifecycle(spec.name) is not None
    # a plain put comes back encrypted by the bucket default
    mc = adapter(migrated, "minio")
    mc.upload("logs", "mig-test/hello.txt", io.BytesIO(b"hi"), 2)
    stat = mc.client(Role.admin).stat_object("logs", "mig-test/hello.txt")
    mc.client(Role.admin).remove_object("logs", "mig-test/hello.txt", version_id=stat.version_id)
    assert stat.metadata.get("x-amz-server-side-encryption") == "AES256" and stat.version_id


class _NeverRead(io.RawIOBase):
    def read(self, *a):
        raise AssertionError("the oversize upload was read")


def test_oversize_upload_refused(migrated):
    with pytest.raises(EstateError, match="1 GiB"):
        adapter(migrated, "minio").upload("logs", "big.bin", _NeverRead(), (1 << 30) + 1)
