"""Shared fixtures. Server fixtures (PostgreSQL, S3, GCS, brokers, dagster dev) live in
tests/fixtures/ modules, one per server, loaded as plugins.

The whole suite runs on a clock that is not UTC (set here, before any test module
or fixture reads the time zone; `make test` sets it too), so anything that leans
on the worker's local time fails here rather than at a customer's.

It also ignores the project's .env (a `make demo` pins its partitions start there)
and fixes the partitions start, for itself and every process it starts."""

import os
import time

os.environ["TZ"] = "America/New_York"
time.tzset()
os.environ["EVENTSYNC_ENV_FILE"] = os.path.join(os.path.dirname(__file__), "no-such.env")
os.environ.setdefault("EVENTSYNC_PARTITIONS_START", "2025-01-01")

pytest_plugins = [
    "tests.fixtures.dagster_env",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.ceph",
    "tests.fixtures.s3_servers",
    "tests.fixtures.gcs",
    "tests.fixtures.broker",
    "tests.fixtures.dagster_dev",
]
