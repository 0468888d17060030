"""The Arrow screen in front of pandera (eventsync/engine/validate.py) changes no verdict: on
random hostile batches (of hostile events, and of legal events that break one or two
rules, every limit among them), screen + pandera on the marked rows gives exactly the
valid rows, quarantined rows and reasons of pandera on the whole batch."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventsync.clock import day_bounds_us
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.engine.extract import RAW_SCHEMA
from eventsync.engine.validate import OPTIONAL_TEXT, DayValidator, screen
from eventsync.event_limits import LIMITS

WS = "ws_1"
DAY = "2024-05-01"
START, END = day_bounds_us(DAY)

# Characters of 1 to 4 bytes in UTF-8, and ones JSON and CSV readers trip over.
_CHARS = st.sampled_from(["a", "Z", "0", "é", "€", "😀", '"', "\\", "\n", "\t", " ", ","])


def _of_length(n: int) -> st.SearchStrategy[str]:
    """n characters: a few random ones, then one character repeated (a long random text
    costs hypothesis far more to draw and tells the length rules nothing more)."""
    return st.tuples(st.text(_CHARS, max_size=min(n, 4)), _CHARS).map(
        lambda t: (t[0] + t[1] * n)[:n]
    )


def _text_around(limit: int) -> st.SearchStrategy[str | None]:
    """NULL, empty, or of a length at or next to the limit (or short), any characters."""
    lengths = st.sampled_from([1, 2, limit - 1, limit, limit + 1])
    return st.one_of(st.none(), st.just(""), lengths.flatmap(_of_length))


def _sized_object(size: int, filler: str) -> str:
    """A JSON object of exactly `size` bytes of UTF-8, mostly `filler` characters."""
    room = size - len('{"b":""}')
    wide = len(filler.encode())
    return '{"b":"' + filler * (room // wide) + "x" * (room % wide) + '"}'


def _nested(depth: int, decoy: str) -> str:
    """A JSON object nesting `depth` levels (objects and arrays in turn), with brackets
    and escaped quotes inside strings that a naive count would take for nesting."""
    value: object = decoy
    for level in range(depth - 1, 0, -1):
        value = [value, decoy] if level % 2 else {"k": value, "s": decoy}
    return json.dumps({"top": value, "s": decoy})


_AROUND = st.sampled_from([-1, 0, 1])
# Values at a limit of properties (bytes, depth), and others.
_AT_LIMITS = st.one_of(
    st.builds(
        _sized_object,
        _AROUND.map(lambda d: LIMITS.properties_bytes + d),
        st.sampled_from(["x", "é", "€", "😀"]),
    ),
    st.builds(
        _nested,
        _AROUND.map(lambda d: LIMITS.properties_depth + d),
        st.sampled_from(["", '{"[', "]}]}", '\\"{', "}"]),
    ),
)
_PROPERTIES = st.one_of(
    _AT_LIMITS,
    st.none(),
    st.sampled_from(
        [
            "{}",
            '{"a": 1}',
            '{"a": {"b": [1, 2]}}',
            "[1, 2]",
            '"text"',
            "1",
            "null",
            "",
            "{",
            "{'a': 1}",
        ]
    ),
    st.text(_CHARS, max_size=8),
)

_HOSTILE = {
    # A small pool of ids, so batches hold duplicates (and duplicate NULLs).
    "event_id": st.one_of(
        st.sampled_from([None, "", "e1", "e2", "e3"]), _text_around(LIMITS.event_id)
    ),
    "workspace_id": st.sampled_from([WS, WS, WS, "ws_2", "", None]),
    "event_type": st.one_of(
        st.sampled_from(EVENT_TYPES), st.sampled_from([None, "", "TRACK", "bogus"])
    ),
    "event_name": _text_around(LIMITS.event_name),
    "user_id": _text_around(LIMITS.subject_id),
    **{name: _text_around(LIMITS.width(name)) for name in OPTIONAL_TEXT},
    "occurred_at": st.one_of(
        st.none(),
        st.sampled_from([START - 1, START, START + 1, END - 1, END, END + 1, 0, -1]),
        st.integers(START, END - 1),
    ),
    "received_at": st.one_of(st.none(), st.integers(0, 2**62)),
    "nps_score": st.one_of(st.none(), st.integers(-2, 12), st.sampled_from([-(2**63), 2**63 - 1])),
    "properties": _PROPERTIES,
    "schema_version": st.just(1),  # not a rule of the schema: the store requires it
}
# A legal value of each field: an event that breaks one or two rules only, so that
# each rule alone decides whether the screen marks the row.
_LEGAL = {
    "event_id": st.uuids().map(str),
    "workspace_id": st.just(WS),
    "event_type": st.just("track"),
    "event_name": st.just("signup"),
    "user_id": st.just("u1"),
    **{name: st.one_of(st.none(), st.just("x")) for name in OPTIONAL_TEXT},
    "occurred_at": st.integers(START, END - 1),
    "received_at": st.integers(0, 2**62),
    "nps_score": st.none(),
    "properties": st.sampled_from([None, '{"a": 1}']),
    "schema_version": st.just(1),
}
_MOSTLY_LEGAL = st.sets(st.sampled_from(sorted(_HOSTILE)), min_size=1, max_size=2).flatmap(
    lambda hostile: st.fixed_dictionaries(
        {name: (_HOSTILE if name in hostile else _LEGAL)[name] for name in _HOSTILE}
    )
)
_EVENT = st.one_of(st.fixed_dictionaries(_HOSTILE), _MOSTLY_LEGAL)


def _batch(events: list[dict]) -> pa.RecordBatch:
    cols = {name: [e.get(name) for e in events] for name in RAW_SCHEMA.names}
    return pa.RecordBatch.from_pydict(cols, schema=RAW_SCHEMA)


def _validate(batch: pa.RecordBatch, use_screen: bool) -> tuple:
    """(reasons by row, valid rows, quarantined rows): one verdict, split as `validate`
    splits it (pandera is asked once)."""
    v = DayValidator(WS, DAY, use_screen=use_screen)
    reasons = v.failure_reasons(batch)
    valid, quarantine = v._split(batch, reasons)
    return reasons, valid, quarantine


# 100 examples (hypothesis' default) in `make test`; `make test-fast` loads the small
# `fast` profile (tests/conftest.py).
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_EVENT, min_size=1, max_size=40))
def test_screen_then_pandera_gives_pandera_verdict(events: list[dict]) -> None:
    batch = _batch(events)
    reasons, valid, quarantine = _validate(batch, use_screen=True)
    ref_reasons, ref_valid, ref_quarantine = _validate(batch, use_screen=False)
    assert reasons == ref_reasons
    assert valid.equals(ref_valid)
    assert quarantine.equals(ref_quarantine)
    # The screen marks exactly the rows pandera fails.
    marked = screen(batch, WS, DAY)
    assert marked is not None
    assert set(marked.nonzero()[0].tolist()) == set(ref_reasons)


def test_clean_batch_never_reaches_pandera() -> None:
    events = [
        {
            "event_id": f"e{i}",
            "workspace_id": WS,
            "event_type": "track",
            "event_name": "signup",
            "user_id": "u1",
            "occurred_at": START + i,
            "received_at": START + i,
            "properties": '{"a": 1}',
            "schema_version": 1,
        }
        for i in range(100)
    ]
    v = DayValidator(WS, DAY)
    valid, quarantine = v.validate(_batch(events))
    assert (valid.num_rows, quarantine.num_rows) == (100, 0)
    assert v._schema is None  # pandera was not asked


def test_batch_of_another_shape_goes_to_pandera_whole() -> None:
    """A batch without a column the rules read, or with one of another type, is not
    screened: pandera judges it whole, as without the screen."""
    batch = _batch([{"event_id": "e1"}, {"event_id": "e2"}])
    wrong_type = batch.set_column(
        RAW_SCHEMA.get_field_index("nps_score"), "nps_score", pa.array([None, 1], pa.int32())
    )
    assert screen(wrong_type, WS, DAY) is None
    assert DayValidator(WS, DAY).failure_reasons(wrong_type) == DayValidator(
        WS, DAY, use_screen=False
    ).failure_reasons(wrong_type)
    missing = batch.drop_columns(["received_at"])
    assert screen(missing, WS, DAY) is None
    with pytest.raises(ValueError, match="not tied to a row"):
        DayValidator(WS, DAY).validate(missing)
