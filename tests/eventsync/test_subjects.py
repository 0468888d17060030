"""The one subject-id rule (eventsync/subjects.py): ingestion and privacy requests accept
and refuse exactly the same new ids, hostile ones included; an id the store already
holds (written by an older version) stays erasable and exportable."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from eventsync import subjects
from eventsync.errors import ConfigError
from eventsync.event_limits import LIMITS
from eventsync.ingest import ingest_events, insert_event_rows
from eventsync.privacy import access_export, purge, request_store, suppressions
from eventsync.store.schema import events, user_profiles
from eventsync.workspaces import create_workspace
from tests.factories import event_row

DAY = "2025-04-10"
GOOD = [
    "u1",
    "用户-ü-😀",
    "alice'; DROP TABLE events;--",
    'quote"and\\backslash',
    "with inner spaces",
    "x" * LIMITS.subject_id,
    "e\u0301-nfd",  # stored in its NFC form (see the look-alike tests)
    "new\U0002fffe",  # unassigned today: accepted (a newer Unicode may assign it)
]
BAD = {
    "": "is empty",
    "   ": "is empty",
    "tab\tinside": "control character (U+0009)",
    "new\nline": "control character (U+000A)",
    "nul\x00byte": "control character (U+0000)",
    "del\x7f": "control character (U+007F)",
    "c1\x85next-line": "control character (U+0085)",
    "lone\ud800surrogate": "lone surrogate (U+D800)",
    "x" * (LIMITS.subject_id + 1): "is too long",
    "\u200b-zero-width": "invisible format character (U+200B)",
    "u\u200d1": "invisible format character (U+200D)",
    "\ufeffu-1": "invisible format character (U+FEFF)",
    "rlo\u202e1-u": "invisible format character (U+202E)",
    "soft\u00adhyphen": "invisible format character (U+00AD)",
    "tag\U000e0041": "invisible format character (U+E0041)",
    "no\u00a0break": "space other than U+0020 (U+00A0)",
    "ideo\u3000space": "space other than U+0020 (U+3000)",
    "line\u2028sep": "line separator (U+2028)",
    "private\ue000use": "private-use character (U+E000)",
    "filler\u3164": "invisible (default-ignorable) character (U+3164)",
    "vs\ufe0f16": "invisible (default-ignorable) character (U+FE0F)",
}


@pytest.mark.parametrize("value", GOOD)
def test_the_rule_accepts_unicode_quotes_and_sql_like_ids(value: str) -> None:
    assert subjects.problem(value) is None


@pytest.mark.parametrize(("value", "reason"), BAD.items())
def test_the_rule_refuses_control_characters_surrogates_empty_and_long_ids(
    value: str, reason: str
) -> None:
    assert reason in (subjects.problem(value) or "")


def test_the_rule_refuses_non_strings() -> None:
    assert subjects.problem(7) == "is not a string (got int)"
    assert subjects.problem(None) == "is not a string (got null)"


def _event(i: int, user: str, **extra: object) -> dict:
    return {
        "event_id": f"e{i}",
        "event_type": "track",
        "event_name": "Clicked",
        "user_id": user,
        "occurred_at": f"{DAY}T10:00:00Z",
        **extra,
    }


def test_ingestion_refuses_bad_ids_with_a_per_event_reason_and_stores_the_good(
    engine: Engine,
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    batch = [_event(i, u) for i, u in enumerate(GOOD)]
    bad = list(BAD)[2:]  # empty ids are "missing field" for user_id
    batch += [_event(100 + i, u) for i, u in enumerate(bad)]
    batch.append(_event(200, "ok-user", company_id="co\tmpany"))
    result = ingest_events(engine, ws, batch)
    assert result.accepted == len(GOOD)
    reasons = {r.index: r.reason for r in result.rejections}
    for i, value in enumerate(bad):
        assert reasons[len(GOOD) + i].startswith("'user_id' "), reasons[len(GOOD) + i]
        assert BAD[value] in reasons[len(GOOD) + i]
    assert (
        reasons[len(batch) - 1]
        == "'company_id' contains a control character (U+0009) at position 2"
    )
    with engine.connect() as conn:
        stored = set(conn.execute(select(events.c.user_id)).scalars())
    assert stored == {subjects.canonical(g) for g in GOOD}


@pytest.mark.parametrize("value", GOOD)
def test_privacy_requests_accept_every_id_ingestion_accepts(engine: Engine, value: str) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    req = request_store.create_request(engine, ws, "erasure", [value], [], "test")
    assert req.user_ids == [subjects.canonical(value)]


@pytest.mark.parametrize(("value", "reason"), BAD.items())
def test_privacy_requests_refuse_every_new_id_ingestion_refuses(
    engine: Engine, value: str, reason: str
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with pytest.raises(ConfigError, match="user_ids\\[0\\]: the id ") as err:
        request_store.create_request(engine, ws, "erasure", [value], [], "test")
    assert reason in str(err.value) and "no such id is held" in str(err.value)


@pytest.mark.parametrize(
    "value", ["tab\tinside", "new\nline", "nul\x00byte", "", "x" * (LIMITS.subject_id + 5)]
)
def test_an_id_an_older_version_stored_is_accepted_by_privacy_requests(
    engine: Engine, value: str
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with engine.begin() as conn:
        insert_event_rows(conn, [event_row(ws, DAY, 1, user_id=value)])
    req = request_store.create_request(engine, ws, "erasure", [value], [], "test")
    acc = request_store.create_request(engine, ws, "access_export", [value], [], "test")
    assert req.user_ids == [value] and acc.user_ids == [value]
    # ... in this workspace only
    other = create_workspace(engine, "other").workspace_id
    with pytest.raises(ConfigError, match="no such id is held in this workspace"):
        request_store.create_request(engine, other, "erasure", [value], [], "test")


def test_a_profile_alone_makes_an_id_held(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with engine.begin() as conn:
        conn.execute(
            user_profiles.insert().values(
                workspace_id=ws, user_id="p\trofile", first_seen_at=1, last_seen_at=1
            )
        )
    assert request_store.create_request(engine, ws, "erasure", ["p\trofile"], [], "t").user_ids


def test_a_nul_id_on_postgresql_is_refused_with_the_rule_not_a_database_error(
    pg_store_url: str,
) -> None:
    from eventsync.store.connection import engine_for

    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "acme").workspace_id
    with pytest.raises(ConfigError, match="control character \\(U\\+0000\\)"):
        request_store.create_request(engine, ws, "erasure", ["nul\x00byte"], [], "test")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0


# --- one comparison: exact after NFC, the same in all four places ---------------------
def _fullwidth(value: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)


LOOK_ALIKES = {
    "same": lambda s: s,
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "nfc": lambda s: unicodedata.normalize("NFC", s),
    "zero-width joiner": lambda s: s[:1] + "\u200d" + s[1:],
    "zero-width space": lambda s: s + "\u200b",
    "bom": lambda s: "\ufeff" + s,
    "word joiner": lambda s: s[:1] + "\u2060" + s[1:],
    "full-width": _fullwidth,
    "upper": str.upper,
    "no-break space": lambda s: s[:1] + "\u00a0" + s[1:],
}
# Letters that compose (NFD != NFC), plain ASCII, digits and a few symbols.
_ALPHABET = st.sampled_from([*"abcxyzAZ09-_.@", "é", "ü", "Å", "ñ", "ệ", "e\u0301", "用"])
BASE_IDS = (
    st.lists(_ALPHABET, min_size=1, max_size=8)
    .map("".join)
    .filter(lambda s: subjects.problem(s) is None)
)


def _ingestion(engine: Engine, ws: str, stored: str, variant: str) -> str:
    """Ingestion: does an event of `variant` land on the subject `stored` was stored as?"""
    result = ingest_events(engine, ws, [_event(1, variant)])
    if result.rejections:
        return "refused"
    with engine.connect() as conn:
        ids = set(conn.execute(select(events.c.user_id).where(events.c.workspace_id == ws)))
    return "same" if len(ids) == 1 else "different"


def _erasure(engine: Engine, ws: str, variant: str) -> str:
    """Erasure: does an erasure request for `variant` reach the stored subject's rows?"""
    try:
        req = request_store.create_request(engine, ws, "erasure", [variant], [], "test")
    except ConfigError:
        return "refused"
    with engine.connect() as conn:
        return "same" if purge.store_counts(conn, req)["events"] else "different"


def _access_export(engine: Engine, ws: str, variant: str) -> str:
    """Access export: does an export of `variant` read the stored subject's events?"""
    try:
        req = request_store.create_request(engine, ws, "access_export", [variant], [], "test")
    except ConfigError:
        return "refused"
    return "same" if any(access_export._pages(engine, req)) else "different"


def _suppression(engine: Engine, ws: str, stored: str, variant: str) -> str:
    """Suppression: once `stored` is erased, is an event of `variant` refused as erased?"""
    suppressions.add(engine, ws, "era_test", [("user", stored)])
    result = ingest_events(engine, ws, [_event(2, variant)])
    if not result.rejections:
        return "different"
    return "same" if result.rejections[0].reason == suppressions.SUBJECT_ERASED else "refused"


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(base=BASE_IDS, look=st.sampled_from(sorted(LOOK_ALIKES)))
def test_ingestion_erasure_suppression_and_access_export_compare_ids_alike(
    engine: Engine, base: str, look: str
) -> None:
    variant = LOOK_ALIKES[look](base)

    def holding_base() -> str:  # a workspace of its own for each of the four
        ws = create_workspace(engine, "look-alikes").workspace_id
        assert ingest_events(engine, ws, [_event(0, base)]).accepted == 1
        return ws

    outcomes = {
        "ingestion": _ingestion(engine, holding_base(), base, variant),
        "erasure": _erasure(engine, holding_base(), variant),
        "access export": _access_export(engine, holding_base(), variant),
        "suppression": _suppression(engine, holding_base(), base, variant),
    }
    if subjects.problem(variant) is not None:
        expected = "refused"
    elif subjects.canonical(variant) == subjects.canonical(base):
        expected = "same"
    else:
        expected = "different"
    assert outcomes == dict.fromkeys(outcomes, expected), (base, variant)


def test_invisible_look_alikes_of_an_erased_id_are_refused_and_nfd_is_the_same_id(
    engine: Engine,
) -> None:
    """The probe's case: after erasing `u-1` (here with an accent), no look-alike gets in."""
    ws = create_workspace(engine, "acme").workspace_id
    suppressions.add(engine, ws, "era_1", [("user", "ü-1")])
    looks = ["u\u0308-1", "\u200bü-1", "ü\u200d-1", "\ufeffü-1", "ü\u2060-1", "ü\u00ad-1"]
    result = ingest_events(engine, ws, [_event(i, v) for i, v in enumerate(looks)])
    assert result.accepted == 0
    reasons = [r.reason for r in result.rejections]
    assert reasons[0] == suppressions.SUBJECT_ERASED
    assert all("invisible" in r for r in reasons[1:]), reasons


def test_the_schema_pattern_is_the_rule() -> None:
    """subjects.PATTERN (the OpenAPI document's) is built from written-out ranges; they
    must be the rule's."""
    import re

    assert tuple(subjects._refused_ranges()) == subjects.REFUSED_RANGES
    pattern = re.compile(subjects.PATTERN)
    for value in [*GOOD, *BAD]:
        if len(value) <= LIMITS.subject_id and "\ud800" not in value:
            assert bool(pattern.match(value)) == (subjects.problem(value) is None), value
