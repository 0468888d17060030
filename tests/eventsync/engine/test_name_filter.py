"""Event-name filters: `*` globs and exact names mean the same on SQLite and PostgreSQL
as the reference semantics (every other character plain, case-sensitive), checked
against fnmatch and against both stores with generated names and patterns; a staged
day and the re-sync's fingerprints hold exactly the matching events."""

from __future__ import annotations

import fnmatch
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from eventsync.engine import name_filter
from eventsync.engine.extract import DayQuery, day_fingerprints
from eventsync.engine.staging import stage_day
from eventsync.ingest import insert_event_rows
from eventsync.store.connection import engine_for
from tests.factories import event_row

DAY = "2025-03-09"
_WORKSPACES = itertools.count()
# Characters that are special somewhere: LIKE (% _ \), GLOB (? [ ]), SQL (' "), ours (*),
# and case and non-ASCII ones.
ALPHABET = "aAbB%_\\[]?'\"*é: "
names_st = st.text(ALPHABET, min_size=1, max_size=6)
patterns_st = st.lists(st.text(ALPHABET, min_size=1, max_size=5), min_size=1, max_size=3)


def fnmatch_reference(name: str, pattern: str) -> bool:
    """fnmatch with only `*` special: `?` and `[` made plain by a one-character class."""
    plain = "".join({"?": "[?]", "[": "[[]"}.get(ch, ch) for ch in pattern)
    return fnmatch.fnmatchcase(name, plain)


@given(name=names_st, patterns=patterns_st)
def test_matches_is_fnmatch_with_only_the_star(name: str, patterns: list[str]) -> None:
    expected = any(fnmatch_reference(name, p) for p in patterns)
    assert name_filter.matches(name, patterns) is expected


def test_examples() -> None:
    assert name_filter.matches("checklist:2:SEEN", ["checklist:*"])
    assert name_filter.matches("Signed Up", ["Signed Up"])
    assert not name_filter.matches("signed up", ["Signed Up"])  # case-sensitive
    assert not name_filter.matches("a_c", ["a%c"]) and name_filter.matches("a%c", ["a%c"])
    assert name_filter.matches("x", ["*"]) and not name_filter.matches(None, ["*"])
    assert name_filter.matches("a?b", ["a?b"]) and not name_filter.matches("axb", ["a?b"])


# Every name the store tests query: the fixed ones, plus generated ones per example.
FIXED = ["checklist:2:SEEN", "Checklist:2:SEEN", "a%c", "abc", "a_c", "a\\c", "[x]", "it's", "é*"]


def _insert_names(engine: Engine, ws: str, names: list[str]) -> None:
    rows = [event_row(ws, DAY, i, event_name=n) for i, n in enumerate(names)]
    with engine.begin() as conn:
        insert_event_rows(conn, rows)


def _selected(engine: Engine, ws: str, patterns: list[str]) -> list[str]:
    where = DayQuery(ws, DAY, event_names=patterns).where(dialect=engine.dialect.name)
    with engine.connect() as conn:
        sql = f"SELECT e.event_name FROM events e WHERE {where}".replace(":", "\\:")
        rows = conn.execute(text(sql))
        return sorted(r[0] for r in rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(names_st, min_size=1, max_size=8, unique=True), patterns=patterns_st)
def test_the_store_selects_what_the_reference_matches(
    store_url: str, names: list[str], patterns: list[str]
) -> None:
    engine = engine_for(store_url)
    ws = f"ws_{next(_WORKSPACES)}"
    _insert_names(engine, ws, FIXED + [n for n in names if n not in FIXED])
    stored = FIXED + [n for n in names if n not in FIXED]
    expected = sorted(n for n in stored if name_filter.matches(n, patterns))
    assert _selected(engine, ws, patterns) == expected


def test_fixed_cases_on_the_store(store_url: str) -> None:
    engine = engine_for(store_url)
    _insert_names(engine, "ws_f", FIXED)
    assert _selected(engine, "ws_f", ["checklist:*"]) == ["checklist:2:SEEN"]
    assert _selected(engine, "ws_f", ["a%c"]) == ["a%c"]
    assert _selected(engine, "ws_f", ["a*c"]) == sorted(["a%c", "abc", "a_c", "a\\c"])
    assert _selected(engine, "ws_f", ["[x]", "it's"]) == sorted(["[x]", "it's"])
    assert _selected(engine, "ws_f", ["é*"]) == ["é*"]


def test_a_staged_day_and_its_fingerprint_hold_only_matching_events(store_url: str) -> None:
    engine = engine_for(store_url)
    names = ["flow:1:done", "flow:2:done", "page", "Flow:3:done", "checklist:1"]
    _insert_names(engine, "ws_s", names * 3)
    patterns = ["flow:*", "page"]
    stage = stage_day(store_url, engine, "sync_n", "ws_s", DAY, event_names=patterns)
    assert stage.extracted == stage.valid == 9
    import pyarrow.parquet as pq

    staged = pq.read_table(stage.staged_path).column("event_name").to_pylist()
    assert sorted(set(staged)) == ["flow:1:done", "flow:2:done", "page"]
    (fp,) = day_fingerprints(engine, "ws_s", DAY, DAY, event_names=patterns).values()
    assert fp.to_dict() == stage.fingerprint


def test_patterns_cannot_leave_their_literal() -> None:
    assert name_filter.quote("it's") == "'it''s'"
    with pytest.raises(ValueError):
        name_filter.quote("a\x00")
    assert name_filter.pattern_error("a\nb") is not None
    with pytest.raises(ValueError, match="needs the SQL dialect"):
        DayQuery("ws", DAY, event_names=["x"]).where()
