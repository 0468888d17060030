"""Demo seed: deterministic, realistic, with a few invalid and some late rows."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from eventsync.clock import US_PER_DAY, day_bounds_us, from_us
from eventsync.demo.seed import DEMO_SYNC_ID, DEMO_WORKSPACE_ID, seed_demo
from eventsync.engine.event_schema import EVENT_TYPES
from eventsync.errors import ConfigError
from eventsync.ingest import validate_event
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import api_keys, events, user_profiles
from eventsync.syncs.config import get_sync
from eventsync.workspaces import authenticate

TODAY = date(2025, 3, 15)


def all_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.event_id))]


def as_raw_event(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as a client would have sent it, for the strict validator."""
    raw = {
        k: v
        for k, v in row.items()
        if v is not None and k not in ("workspace_id", "received_at", "schema_version")
    }
    raw["occurred_at"] = from_us(row["occurred_at"]).isoformat()
    if "properties" in raw:
        try:
            raw["properties"] = json.loads(raw["properties"])
        except ValueError:
            raw["properties"] = "<not JSON>"
    return raw


def test_same_seed_gives_identical_rows_in_two_stores(tmp_path: Path) -> None:
    stores = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name / 'es.db'}"
        upgrade(url)
        engine = engine_for(url)
        seed_demo(
            engine,
            days=3,
            events_per_day=300,
            seed=11,
            today=TODAY,
            destination=tmp_path / name / "exports",
        )
        stores.append(all_rows(engine))
    assert len(stores[0]) == 900
    assert stores[0] == stores[1]
    other = f"sqlite:///{tmp_path / 'c' / 'es.db'}"
    upgrade(other)
    seed_demo(
        engine_for(other),
        days=3,
        events_per_day=300,
        seed=12,
        today=TODAY,
        destination=tmp_path / "c",
    )
    assert {r["event_id"] for r in all_rows(engine_for(other))}.isdisjoint(
        {r["event_id"] for r in stores[0]}
    )


def test_demo_seed_content(engine: Engine, es_home: Path) -> None:
    result = seed_demo(engine, days=14, events_per_day=2000, today=TODAY)
    assert result["seconds"] < 20  # ~1.5 s here; generous for a loaded 2-core machine
    assert (result["events"], result["inserted"], result["invalid"]) == (28000, 28000, 70)
    assert (result["first_day"], result["last_day"]) == ("2025-03-01", "2025-03-14")
    assert authenticate(engine, result["api_key"]) == DEMO_WORKSPACE_ID

    sync = get_sync(engine, DEMO_SYNC_ID)
    assert sync.workspace_id == DEMO_WORKSPACE_ID
    assert sync.formats == ["parquet", "jsonl"]
    assert (sync.compression, sync.backfill_days) == ("auto", 14)
    assert sync.destination == f"file://{es_home / 'exports'}"

    rows = all_rows(engine)
    assert len(rows) == 28000 and {r["workspace_id"] for r in rows} == {DEMO_WORKSPACE_ID}
    start, _ = day_bounds_us("2025-03-01")
    _, end = day_bounds_us("2025-03-14")
    assert all(start <= r["occurred_at"] < end for r in rows)
    per_day = Counter(from_us(r["occurred_at"]).date() for r in rows)
    assert set(per_day.values()) == {2000}

    # Userpilot-like mix: page views dominate; every type appears; names as the anchors.
    types = Counter(r["event_type"] for r in rows)
    assert types.most_common(1)[0][0] == "page_view"
    for t in (
        "track",
        "labeled",
        "flow_interaction",
        "checklist_interaction",
        "nps_response",
        "survey_submission",
        "identify_user",
        "identify_company",
        "session_start",
    ):
        assert types[t] > 0, t
    names = {r["event_name"] for r in rows}
    assert {"flow:12:COMPLETED", "checklist:2:SEEN"} <= names
    scores = Counter(r["nps_score"] for r in rows if r["event_type"] == "nps_response")
    assert all(scores[s] > 0 for s in range(11))

    # Long tail: many users, a few heavy ones; some users without a company.
    users = Counter(r["user_id"] for r in rows)
    assert len(users) > 300
    top10 = sum(c for _, c in users.most_common(10))
    assert top10 > 0.15 * len(rows)
    assert any(r["company_id"] is None for r in rows)
    assert len({r["company_id"] for r in rows}) > 20
    assert len({r["session_id"] for r in rows}) > 2000
    with engine.connect() as conn:
        assert conn.execute(select(user_profiles)).first() is not None

    # Late rows: received 1..9 days after their day closed, never after today.
    late = [
        r for r in rows if r["received_at"] >= day_bounds_us(from_us(r["occurred_at"]).date())[1]
    ]
    assert len(late) == result["late"] > 100
    for r in late:
        day_end = day_bounds_us(from_us(r["occurred_at"]).date())[1]
        assert day_end <= r["received_at"] < day_end + 9 * US_PER_DAY
        assert r["received_at"] < day_bounds_us(TODAY)[0]

    # Invalid rows: exactly the ones strict ingestion would reject, one of each kind.
    reasons = [validate_event(as_raw_event(r), now_us=day_bounds_us(TODAY)[0])[1] for r in rows]
    rejected = [x for x in reasons if x is not None]
    assert len(rejected) == 70
    kinds = Counter(
        "nps range"
        if "is outside 0..10" in x
        else "unknown type"
        if x.startswith("unknown event_type")
        else x
        for x in rejected
    )
    assert kinds == {
        "nps range": 14,
        "missing field 'nps_score' (required for nps_response)": 14,
        "missing field 'user_id' (empty string)": 14,
        "unknown type": 14,
        "wrong type for 'properties': expected JSON object, got str": 14,
    }
    assert sum(1 for r in rows if r["event_type"] not in EVENT_TYPES) == 14
    bad_json = 0
    for r in rows:
        try:
            json.loads(r["properties"])
        except ValueError:
            bad_json += 1
    assert bad_json == 14


def test_reseed_does_not_duplicate_and_keeps_the_key_secret(engine: Engine, es_home: Path) -> None:
    first = seed_demo(engine, days=2, events_per_day=200, today=TODAY)
    second = seed_demo(engine, days=4, events_per_day=200, today=TODAY)
    assert "api_key" in first and "api_key" not in second
    assert (second["inserted"], second["skipped_existing"]) == (400, 400)  # only the new days
    assert len(all_rows(engine)) == 800
    with engine.connect() as conn:
        stored = conn.execute(select(api_keys)).all()
    assert len(stored) == 1
    secret = first["api_key"].split("_", 2)[2]
    assert all(secret not in str(tuple(row)) for row in stored)


def test_bad_arguments_name_the_field(engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"^days: must be an integer from 1 to 365"):
        seed_demo(engine, days=400)
    with pytest.raises(ConfigError, match=r"^events_per_day: "):
        seed_demo(engine, events_per_day=0)


def test_same_rows_on_sqlite_and_postgresql(store_url: str, tmp_path: Path) -> None:
    """The seed writes the same rows whatever the backend (here: each backend's rows
    equal a fresh SQLite seed), and re-seeding on that backend adds nothing."""
    engine = engine_for(store_url)
    first = seed_demo(engine, days=2, events_per_day=250, today=TODAY, destination=tmp_path)
    assert first["inserted"] == 500
    assert seed_demo(engine, days=2, events_per_day=250, today=TODAY)["inserted"] == 0
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    upgrade(reference)
    seed_demo(engine_for(reference), days=2, events_per_day=250, today=TODAY, destination=tmp_path)
    assert all_rows(engine) == all_rows(engine_for(reference))


def test_cli_demo_seed(es_home: Path) -> None:
    from click.testing import CliRunner

    from eventsync.cli import main

    args = ["demo", "seed", "--days", "2", "--events-per-day", "100", "--seed", "3", "--json"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    data = json.loads(first.output)
    assert (data["workspace_id"], data["sync_id"], data["inserted"]) == (
        DEMO_WORKSPACE_ID,
        DEMO_SYNC_ID,
        200,
    )
    assert data["api_key"].startswith("esk_")
    again = CliRunner().invoke(main, args[:-1])
    assert again.exit_code == 0
    assert "0 events written (200 already there)" in again.output
    assert "API key" not in again.output
    bad = CliRunner().invoke(main, ["demo", "seed", "--days", "0"])
    assert bad.exit_code == 2 and "days: must be an integer from 1 to 365" in bad.output
