"""Shared fixtures. Server fixtures (PostgreSQL, S3, GCS, brokers) live in
tests/fixtures/ modules, one per server, loaded as plugins.

The whole suite runs on a clock that is not UTC (set here, before any test module
or fixture reads the time zone; `make test` sets it too), so anything that leans
on the worker's local time fails here rather than at a customer's."""

import os
import time

os.environ["TZ"] = "America/New_York"
time.tzset()

pytest_plugins = [
    "tests.fixtures.dagster_env",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.ceph",
    "tests.fixtures.s3_servers",
    "tests.fixtures.gcs",
    "tests.fixtures.broker",
]
