"""Shared fixtures. Server fixtures (PostgreSQL, S3, GCS, brokers) live in
tests/fixtures/ modules, one per server, loaded as plugins."""

from __future__ import annotations

from pathlib import Path


pytest_plugins = [
    p
    for p in (
        "tests.fixtures.dagster_env",
        "tests.fixtures.postgres",
        "tests.fixtures.s3",
        "tests.fixtures.gcs",
        "tests.fixtures.broker",
    )
    if (Path(__file__).parent / "fixtures" / (p.rsplit(".", 1)[1] + ".py")).exists()
]
