"""One ComponentResource per store (PostgreSQL, MongoDB, NATS, MinIO) on the shared base in `base`."""
