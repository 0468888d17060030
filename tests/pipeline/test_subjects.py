"""The one subject-id rule (pipeline/subjects.py): ingestion and privacy requests accept
and refuse exactly the same new ids, hostile ones included; an id the store already
holds (written by an older version) stays erasable and exportable."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from pipeline import subjects
from pipeline.ingest import ingest_events, insert_event_rows
from pipeline.privacy import ledger
from pipeline.workspaces import create_workspace
from resources.errors import ConfigError
from resources.schema import events, user_profiles
from tests.factories import event_row

DAY = "2025-04-10"
GOOD = [
    "u1",
    "用户-ü-😀",
    "alice'; DROP TABLE events;--",
    'quote"and\\backslash',
    "with inner spaces",
    "x" * subjects.MAX_LENGTH,
    "\u200b-zero-width",  # a format character, not a control character
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
    "x" * (subjects.MAX_LENGTH + 1): "is too long",
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
    assert stored == set(GOOD)


@pytest.mark.parametrize("value", GOOD)
def test_privacy_requests_accept_every_id_ingestion_accepts(engine: Engine, value: str) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    req = ledger.create_request(engine, ws, "erasure", [value], [], "test")
    assert req.user_ids == [value]


@pytest.mark.parametrize(("value", "reason"), BAD.items())
def test_privacy_requests_refuse_every_new_id_ingestion_refuses(
    engine: Engine, value: str, reason: str
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with pytest.raises(ConfigError, match="user_ids\\[0\\]: the id ") as err:
        ledger.create_request(engine, ws, "erasure", [value], [], "test")
    assert reason in str(err.value) and "no such id is held" in str(err.value)


@pytest.mark.parametrize(
    "value", ["tab\tinside", "new\nline", "nul\x00byte", "", "x" * (subjects.MAX_LENGTH + 5)]
)
def test_an_id_an_older_version_stored_is_accepted_by_privacy_requests(
    engine: Engine, value: str
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with engine.begin() as conn:
        insert_event_rows(conn, [event_row(ws, DAY, 1, user_id=value)])
    req = ledger.create_request(engine, ws, "erasure", [value], [], "test")
    acc = ledger.create_request(engine, ws, "access_export", [value], [], "test")
    assert req.user_ids == [value] and acc.user_ids == [value]
    # ... in this workspace only
    other = create_workspace(engine, "other").workspace_id
    with pytest.raises(ConfigError, match="no such id is held in this workspace"):
        ledger.create_request(engine, other, "erasure", [value], [], "test")


def test_a_profile_alone_makes_an_id_held(engine: Engine) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    with engine.begin() as conn:
        conn.execute(
            user_profiles.insert().values(
                workspace_id=ws, user_id="p\trofile", first_seen_at=1, last_seen_at=1
            )
        )
    assert ledger.create_request(engine, ws, "erasure", ["p\trofile"], [], "t").user_ids


def test_a_nul_id_on_postgresql_is_refused_with_the_rule_not_a_database_error(
    pg_store_url: str,
) -> None:
    from resources.store import engine_for

    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "acme").workspace_id
    with pytest.raises(ConfigError, match="control character \\(U\\+0000\\)"):
        ledger.create_request(engine, ws, "erasure", ["nul\x00byte"], [], "test")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 0
