"""The store's part of an erasure: the subjects' events and profiles deleted (by user
or company id, in this workspace only), other users unlinked from an erased company,
and a proof that counts zero rows left."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, insert, select

from eventsync.privacy import request_store
from eventsync.privacy.purge import prove_store_clean, step_store, store_counts
from eventsync.store.schema import company_profiles, events, user_profiles
from eventsync.workspaces import create_workspace
from tests.factories import insert_day

DAY = "2025-03-01"


@pytest.fixture
def two_workspaces(engine: Engine) -> tuple[str, str]:
    ours, theirs = (create_workspace(engine, n).workspace_id for n in ("acme", "other"))
    for ws in (ours, theirs):
        insert_day(engine, ws, DAY, 26)  # user-0..12, company-0..2
        with engine.begin() as conn:
            conn.execute(
                insert(user_profiles),
                [
                    {
                        "workspace_id": ws,
                        "user_id": u,
                        "company_id": c,
                        "first_seen_at": 0,
                        "last_seen_at": 0,
                    }
                    for u, c in (("user-1", None), ("user-2", "company-1"))
                ],
            )
            conn.execute(
                insert(company_profiles),
                [
                    {
                        "workspace_id": ws,
                        "company_id": "company-1",
                        "first_seen_at": 0,
                        "last_seen_at": 0,
                    }
                ],
            )
    return ours, theirs


def _events(engine: Engine, ws: str) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(events).where(events.c.workspace_id == ws)
        return conn.execute(q).scalar_one()


def test_the_subjects_rows_go_and_only_in_their_workspace(engine: Engine, two_workspaces) -> None:
    ours, theirs = two_workspaces
    req = request_store.create_request(engine, ours, "erasure", ["user-1"], ["company-1"], "t")
    removed = step_store(engine, req)
    assert removed["user_profiles_removed"] == 1 and removed["company_profiles_removed"] == 1
    assert removed["user_profiles_unlinked_from_company"] == 1  # user-2 worked at company-1
    assert _events(engine, ours) == 26 - removed["events_removed"] and removed["events_removed"] > 0
    assert _events(engine, theirs) == 26
    with engine.connect() as conn:
        assert store_counts(conn, req) == {"events": 0, "user_profiles": 0, "company_profiles": 0}


def test_the_proof_deletes_what_slipped_in_and_counts_zero(engine: Engine, two_workspaces) -> None:
    ours, _ = two_workspaces
    req = request_store.create_request(engine, ours, "erasure", ["user-1"], [], "t")
    step_store(engine, req)
    insert_day(engine, ours, "2025-03-02", 2, i0={"user_id": "user-1"}, i1={"user_id": "user-1"})
    purged, left = prove_store_clean(engine, req)
    assert purged["events_removed"] == 2
    assert left == {"events": 0, "user_profiles": 0, "company_profiles": 0}
