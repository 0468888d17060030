"""Spark (pyspark 4, Java 17) against the export: `make interop`, not `make test`
(a JVM start and the matrix take a few minutes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import exported  # noqa: F401 -- the exported workspace fixture

pyspark = pytest.importorskip("pyspark", reason="make interop installs pyspark")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A local session whose JVM runs in a fresh folder (its relative paths resolve
    there), with Hive support for the Athena DDL."""
    from pyspark.sql import SparkSession

    work: Path = tmp_path_factory.mktemp("spark")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        session = _session(SparkSession, work)
    yield session
    session.stop()


def _session(builder_cls, work: Path):  # type: ignore[no-untyped-def]
    session = (
        builder_cls.builder.master("local[1]")
        .appName("eventsync-interop")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.eventsync.cwd", str(work))
        .config("spark.sql.warehouse.dir", str(work / "warehouse"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={work}")
        .config("spark.ui.enabled", "false")
        .enableHiveSupport()
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
