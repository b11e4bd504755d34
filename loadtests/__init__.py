"""Locust load campaigns against any environment's stores (PostgreSQL, MongoDB, NATS, MinIO).

Locust runs on gevent. ``import locust`` monkey-patches the process, so nothing here may be imported
by the `estate` CLI process itself: campaigns run in their own process (``python -m loadtests.campaign``
or ``locust -f loadtests/locustfile.py``).
"""
