"""Shared fixtures. Server fixtures (PostgreSQL, S3, GCS, brokers, dagster dev) live in
tests/fixtures/ modules, one per server, loaded as plugins.

The suite ignores the project's .env (a `make demo` pins its partitions start there)
and fixes the partitions start, for itself and every process it starts."""

import os

os.environ["EVENTSYNC_ENV_FILE"] = os.path.join(os.path.dirname(__file__), "no-such.env")
os.environ.setdefault("EVENTSYNC_PARTITIONS_START", "2025-01-01")

pytest_plugins = [
    "tests.fixtures.dagster_env",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.gcs",
    "tests.fixtures.broker",
    "tests.fixtures.dagster_dev",
]
