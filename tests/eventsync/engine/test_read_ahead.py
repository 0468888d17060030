"""extract.read_ahead: the items in order, at most one batch ahead of the caller, the
producer's error raised to the caller, and the producer closed (in its own thread)
when the caller stops early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from eventsync.engine.extract import read_ahead


def test_items_in_order_and_at_most_one_ahead() -> None:
    produced: list[int] = []

    def items() -> Iterator[int]:
        for i in range(6):
            produced.append(i)
            yield i

    seen = []
    for item in read_ahead(items):
        # The caller holds `item`; the thread may have read the next one, not more.
        assert len(produced) <= item + 2
        seen.append(item)
    assert seen == list(range(6))


def test_error_of_the_producer_is_raised_to_the_caller() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise RuntimeError("store went away")

    got = []
    with pytest.raises(RuntimeError, match="store went away"):
        for item in read_ahead(items):
            got.append(item)
    assert got == [1]


def test_stopping_early_closes_the_producer_in_its_thread() -> None:
    closed: list[str] = []

    def items() -> Iterator[int]:
        try:
            yield from range(1000)
        finally:
            closed.append(threading.current_thread().name)

    for item in read_ahead(items):
        if item == 3:
            break
    assert closed == ["eventsync-read-ahead"]
