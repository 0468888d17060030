"""DuckDB: one connection per thread, computing in UTC whatever the worker's zone."""

from __future__ import annotations

import threading

from eventsync.engine.duck import duck


def test_each_thread_gets_its_own_connection_and_keeps_it() -> None:
    mine = duck()
    theirs: list[object] = []
    worker = threading.Thread(target=lambda: theirs.append(duck()))
    worker.start()
    worker.join()
    assert duck() is mine
    assert theirs[0] is not mine


def test_timestamps_print_in_utc_on_a_non_utc_worker() -> None:
    # The suite runs with TZ=America/New_York (tests/conftest.py).
    rows = duck().sql("SELECT CAST(TIMESTAMPTZ '2024-05-01 00:30:00+00' AS VARCHAR)").fetchall()
    assert rows == [("2024-05-01 00:30:00+00",)]
