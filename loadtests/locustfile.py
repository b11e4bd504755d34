"""`locust -f loadtests/locustfile.py` — all four store users (pick with the class picker or -u/tags).

Prepare the targets first with `estate load --prepare-only` (schema, bucket, stream).
"""
from loadtests.users import MinioUser, MongoUser, NatsUser, PostgresUser  # noqa: F401
