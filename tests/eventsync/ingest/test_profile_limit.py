"""Bounded subjects: a merged profile is at most LIMITS.profile_bytes of JSON. An
identify that would outgrow it is refused with a reason naming the limit (nothing
truncated, the event not stored); the cost of an identify does not grow with the
subject's history; profiles stored larger are reported by `eventsync db check-profiles`."""

from __future__ import annotations

import json
import statistics
import time

from click.testing import CliRunner
from sqlalchemy import Engine, insert, select

from eventsync.cli import main
from eventsync.event_limits import LIMITS
from eventsync.ingest import ingest_events
from eventsync.ingest.event_writes import profile_size
from eventsync.store.schema import events, user_profiles
from tests.eventsync.ingest.events import ev

# One identify's properties: ~30 KiB (under the per-event limit of 32 KiB), new keys.
CHUNK = 30 * 1024


def _identify(i: int, user: str = "u1") -> dict:
    return ev(
        event_id=f"id-{i}",
        event_type="identify_user",
        event_name="identify_user",
        user_id=user,
        occurred_at=f"2025-03-09T10:{i // 60:02d}:{i % 60:02d}Z",
        properties={f"k{i}": "x" * CHUNK},
    )


def _profile(engine: Engine, ws: str, user: str = "u1") -> dict:
    with engine.connect() as conn:
        text = conn.execute(
            select(user_profiles.c.properties).where(
                user_profiles.c.workspace_id == ws, user_profiles.c.user_id == user
            )
        ).scalar_one()
    return json.loads(text)


def test_an_identify_that_would_outgrow_the_profile_is_refused_naming_the_limit(
    engine: Engine, ws: str
) -> None:
    assert LIMITS.profile_bytes == 64 * 1024
    first = ingest_events(engine, ws, [_identify(0), _identify(1)])
    assert first.accepted == 2  # ~60 KiB: fits
    before = _profile(engine, ws)
    result = ingest_events(engine, ws, [_identify(2), ev(event_id="t1"), _identify(3, "u2")])
    assert result.accepted == 2
    (rejection,) = result.rejections
    assert rejection.index == 0 and rejection.event_id == "id-2"
    assert f"profile limit of {LIMITS.profile_bytes} bytes" in rejection.reason
    assert "nothing is truncated" in rejection.reason
    # nothing of the refused event: not stored, the profile unchanged (not truncated)
    assert _profile(engine, ws) == before
    with engine.connect() as conn:
        stored = set(
            conn.execute(select(events.c.event_id).where(events.c.workspace_id == ws)).scalars()
        )
    assert stored == {"id-0", "id-1", "t1", "id-3"}
    # an identify that changes nothing new still passes (an update of a known key)
    update = _identify(4)
    update["properties"] = {"k0": "short now"}
    assert ingest_events(engine, ws, [update]).accepted == 1
    assert _profile(engine, ws)["k0"] == "short now"
    assert profile_size(_profile(engine, ws)) <= LIMITS.profile_bytes


def test_identify_cost_does_not_grow_with_the_subject_history(engine: Engine, ws: str) -> None:
    """The probe's attack: 30 maximum-size identifies for one user. The profile stays
    bounded, so the last requests cost what the first did."""
    timings = []
    for i in range(30):
        started = time.perf_counter()
        ingest_events(engine, ws, [_identify(i)])
        timings.append(time.perf_counter() - started)
    assert profile_size(_profile(engine, ws)) <= LIMITS.profile_bytes
    first, last = statistics.median(timings[2:7]), statistics.median(timings[-5:])
    assert last <= 3 * first + 0.05, timings


def test_check_profiles_reports_profiles_stored_over_the_limit(engine: Engine, ws: str) -> None:
    big = json.dumps({"k": "ü" * LIMITS.profile_bytes}, ensure_ascii=False)
    with engine.begin() as conn:
        conn.execute(
            insert(user_profiles).values(
                workspace_id=ws, user_id="legacy", properties=big, first_seen_at=1, last_seen_at=1
            )
        )
    ingest_events(engine, ws, [_identify(0, "fine")])
    result = CliRunner().invoke(main, ["db", "check-profiles", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["limit_bytes"] == LIMITS.profile_bytes
    assert report["oversized"] == [
        {
            "workspace_id": ws,
            "subject_type": "user",
            "subject_id": "legacy",
            "bytes": len(big.encode()),
        }
    ]
    # its identifies are refused until it shrinks; nothing is cut
    refused = ingest_events(engine, ws, [_identify(1, "legacy")])
    assert refused.accepted == 0 and "profile limit" in refused.rejections[0].reason
    assert _profile(engine, ws, "legacy") == json.loads(big)
