"""Shared fixtures. Server fixtures (PostgreSQL, S3, GCS, brokers) live in
tests/fixtures/ modules, one per server, loaded as plugins."""

pytest_plugins = [
    "tests.fixtures.dagster_env",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.ceph",
    "tests.fixtures.s3_servers",
    "tests.fixtures.gcs",
    "tests.fixtures.broker",
]
