"""A test's "today" and the code's agree: no test module reads the clock at import (a
module collected before a UTC midnight and run after it compares yesterday's window with
today's), and every module that uses the session's `TODAY` runs its tests at noon UTC of
that day (`noon_utc`, tests/fixtures/clock.py); a test whose processes read the real
clock starts with room left in the day (`today_with_room`)."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import time_machine

from tests.fixtures.clock import today_with_room

TESTS = Path(__file__).parent
CLOCK_READS = {"now", "utcnow", "today", "utc_today", "now_iso", "time_ns"}


class _ImportTimeReads(ast.NodeVisitor):
    """Clock calls a module makes when imported: not inside a function, class body or
    lambda (which run later, in a test)."""

    def __init__(self) -> None:
        self.lines: list[int] = []

    def visit_Call(self, node: ast.Call) -> None:
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        if name in CLOCK_READS:
            self.lines.append(node.lineno)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        for decorator in node.decorator_list:  # decorators do run at import
            self.visit(decorator)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass


def _module_level_clock_reads(tree: ast.Module) -> list[int]:
    reads = _ImportTimeReads()
    reads.visit(tree)
    return reads.lines


@cache
def _modules() -> list[tuple[Path, ast.Module]]:
    own = {TESTS / "fixtures" / "clock.py"}
    return [(p, ast.parse(p.read_text())) for p in sorted(TESTS.rglob("*.py")) if p not in own]


def test_no_test_module_reads_the_clock_at_import() -> None:
    found = {
        str(p.relative_to(TESTS)): lines
        for p, tree in _modules()
        if (lines := _module_level_clock_reads(tree))
    }
    assert found == {}, "read the clock in a test (or use tests.fixtures.clock.TODAY)"


def test_every_module_using_today_pins_the_clock_to_its_noon() -> None:
    sources = {str(p.relative_to(TESTS)): ast.unparse(tree) for p, tree in _modules()}
    unpinned = [
        name
        for name, source in sources.items()
        if "from tests.fixtures.clock import TODAY" in source and "noon_utc" not in source
    ]
    assert unpinned == []


def test_today_with_room_waits_out_a_day_that_is_about_to_end() -> None:
    last_second = datetime(2026, 12, 7, 23, 59, 59, 500_000, tzinfo=UTC).timestamp()
    with time_machine.travel(last_second, tick=True):
        assert today_with_room(seconds=2) == date(2026, 12, 8)
        assert today_with_room(seconds=2) == date(2026, 12, 8)  # room left: no wait
