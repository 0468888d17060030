"""Profile upserts of identify events (eventsync/ingest/event_writes.py)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from eventsync.ingest import ingest_events
from eventsync.store.schema import company_profiles, user_profiles
from tests.eventsync.ingest.events import ev, us


def test_identify_events_upsert_profiles(engine: Engine, ws: str) -> None:
    ingest_events(
        engine,
        ws,
        [
            ev(
                event_id="i1",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-03-01T00:00:00Z",
                company_id="c1",
                properties={"plan": "free", "role": "admin"},
            ),
            ev(
                event_id="i2",
                event_type="identify_company",
                event_name="identify_company",
                company_id="c1",
                properties={"name": "Acme"},
            ),
        ],
    )
    ingest_events(
        engine,
        ws,
        [
            ev(
                event_id="i3",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-03-05T00:00:00Z",
                properties={"plan": "pro"},
            ),
            # older than what the profile has seen: only adds keys
            ev(
                event_id="i4",
                event_type="identify_user",
                event_name="identify_user",
                occurred_at="2025-02-01T00:00:00Z",
                properties={"plan": "trial", "locale": "de"},
            ),
        ],
    )
    with engine.connect() as conn:
        user = conn.execute(select(user_profiles).where(user_profiles.c.user_id == "u1")).one()
        company = conn.execute(select(company_profiles)).one()
    assert json.loads(user.properties) == {"plan": "pro", "role": "admin", "locale": "de"}
    assert user.company_id == "c1"
    assert user.first_seen_at == us(2025, 2, 1)
    assert user.last_seen_at == us(2025, 3, 5)
    assert (company.company_id, json.loads(company.properties)) == ("c1", {"name": "Acme"})
