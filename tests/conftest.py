"""Shared fixtures. Server fixtures (PostgreSQL, S3, GCS, brokers, dagster dev) live in
tests/fixtures/ modules, one per server, loaded as plugins.

The whole suite runs on a clock that is not UTC (set here, before any test module
or fixture reads the time zone; `make test` sets it too), so anything that leans
on the worker's local time fails here rather than at a customer's.

It also ignores the project's .env (a `make demo` pins its partitions start there)
and fixes the partitions start, for itself and every process it starts.

Two lanes (README.md): `make test` runs everything; `make test-fast` leaves out the
tests marked `slow` (marked here: every test under tests/e2e, every test that uses a
fixture starting Ceph radosgw, `dagster dev` or a Celery broker, and the PostgreSQL half
of each test that runs on both store backends; others by hand) and runs hypothesis with
the small `fast` profile (HYPOTHESIS_PROFILE=fast). The modules whose tests declare the
longest timeouts are collected first (see pytest_collection_modifyitems)."""

import os
import time

import pytest
from hypothesis import settings

os.environ["TZ"] = "America/New_York"
time.tzset()
os.environ["EVENTSYNC_ENV_FILE"] = os.path.join(os.path.dirname(__file__), "no-such.env")
os.environ.setdefault("EVENTSYNC_PARTITIONS_START", "2025-01-01")

pytest_plugins = [
    "tests.fixtures.clock",
    "tests.fixtures.dagster_env",
    "tests.fixtures.postgres",
    "tests.fixtures.s3",
    "tests.fixtures.ceph",
    "tests.fixtures.s3_servers",
    "tests.fixtures.gcs",
    "tests.fixtures.broker",
    "tests.fixtures.dagster_dev",
]

# Fixtures that start a daemon of their own: a test using one is `slow`.
# (browser, console: Chromium and a real API process, the console's tests.)
SLOW_FIXTURES = frozenset(
    {"ceph_s3", "ceph_bucket", "dagster_dev", "celery_broker", "browser", "console"}
)
E2E = os.path.join(os.path.dirname(__file__), "e2e") + os.sep

settings.register_profile("full")  # hypothesis' defaults: 100 examples per test
settings.register_profile("fast", max_examples=5)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "full"))


def _is_slow(item: pytest.Item) -> bool:
    if str(item.path).startswith(E2E) or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    # The Ceph half of the S3 contract, and the PostgreSQL half of a test that runs on
    # both store backends (its SQLite half stays in the fast lane; PostgreSQL-only tests
    # too).
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    params = callspec.params
    return params.get("s3_server") == "ceph" or "postgresql" in params.values()


def _declared_seconds(item: pytest.Item) -> float:
    """The run time a test declares it may need (its own `timeout` mark), 0 if none."""
    marker = item.get_closest_marker("timeout")
    return float(marker.args[0]) if marker is not None and marker.args else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
    # Longest first: `make test` hands out one module at a time to its workers (xdist's
    # loadscope, not reordered), so the modules that declare long timeouts (minutes of
    # daemons) start at once instead of starting late and ending the lane alone. The
    # sort is stable: a module's tests stay together, in their order.
    longest: dict[object, float] = {}
    for item in items:
        longest[item.path] = max(longest.get(item.path, 0.0), _declared_seconds(item))
    items.sort(key=lambda item: -longest[item.path])
