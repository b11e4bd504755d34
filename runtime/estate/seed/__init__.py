"""`estate seed`: deterministic, realistic data consistent across PostgreSQL, MongoDB, NATS and MinIO.

``generate`` builds a Dataset in memory from (seed, scale, as-of) alone; ``writers`` put it into the
four stores (COPY, unordered bulk inserts, async JetStream publishes, parallel uploads); ``verify``
checks every cross-store reference. A dataset's ids derive from its (seed, scale), so seeding again
finds its own rows and leaves the stores as they were.
"""
from estate.seed.generate import Dataset, generate
from estate.seed.run import SeedReport, seed_estate

__all__ = ["Dataset", "SeedReport", "generate", "seed_estate"]
