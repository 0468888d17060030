"""The event store's part of an erasure: delete the subjects' events and profiles (the
`store` step), and prove the store clean (the `verify` step).

The proof cannot be starved: by the time it runs, the subjects are on the suppression
list, and ingestion stores nothing of a suppressed subject (eventsync/privacy/
suppressions.py). It holds the workspace's subject gate exclusive, deletes any row of
the subjects that is still there -- e.g. one another writer put into the store directly
-- and counts in the same transaction: zero, on the first attempt, whatever the traffic.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Engine, delete, func, or_, select, update

from eventsync.privacy.request_store import PrivacyRequest
from eventsync.store.locks import subject_gate
from eventsync.store.schema import company_profiles, events, user_profiles

BATCH = 500


def chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]


def subject_filter(table: Any, users: list[str], companies: list[str]) -> Any:
    """Rows of `table` that belong to the users or (where it has the column) companies."""
    clauses = [table.c.user_id.in_(chunk) for chunk in chunks(users)]
    if "company_id" in table.c:
        clauses += [table.c.company_id.in_(chunk) for chunk in chunks(companies)]
    return or_(*clauses) if clauses else None


def purge_store(conn: Connection, req: PrivacyRequest) -> dict[str, int]:
    """Delete the subjects' events and profiles; unlink erased companies from the
    profiles of other users. Returns the counts."""
    return purge_subjects(conn, req.workspace_id, req.user_ids, req.company_ids)


def _delete_profiles(conn: Connection, id_column: Column, ws: str, ids: list[str]) -> int:
    """Delete the profiles of the workspace whose id (`id_column` of its table) is one of
    `ids`, a chunk at a time; the rows removed."""
    table = id_column.table
    removed = 0
    for chunk in chunks(ids):
        removed += conn.execute(
            delete(table).where(table.c.workspace_id == ws, id_column.in_(chunk))
        ).rowcount
    return removed


def purge_subjects(
    conn: Connection, ws: str, user_ids: list[str], company_ids: list[str]
) -> dict[str, int]:
    """`purge_store` for plain ids (the erasure journal re-applied to a restored store)."""
    ev = 0
    cond = subject_filter(events, user_ids, company_ids)
    if cond is not None:
        ev = conn.execute(delete(events).where(events.c.workspace_id == ws, cond)).rowcount
    up = _delete_profiles(conn, user_profiles.c.user_id, ws, user_ids)
    cp = _delete_profiles(conn, company_profiles.c.company_id, ws, company_ids)
    unlinked = 0
    for chunk in chunks(company_ids):
        # Other users' profiles keep no reference to an erased company.
        unlinked += conn.execute(
            update(user_profiles)
            .where(user_profiles.c.workspace_id == ws, user_profiles.c.company_id.in_(chunk))
            .values(company_id=None)
        ).rowcount
    return {
        "events_removed": ev,
        "user_profiles_removed": up,
        "company_profiles_removed": cp,
        "user_profiles_unlinked_from_company": unlinked,
    }


def step_store(engine: Engine, req: PrivacyRequest) -> dict[str, Any]:
    with engine.begin() as conn:
        return purge_store(conn, req)


def store_counts(conn: Connection, req: PrivacyRequest) -> dict[str, int]:
    """Rows of the subjects in the store (events, user and company profiles)."""
    ws = req.workspace_id

    def count(table: Any, cond: Any) -> int:
        if cond is None:
            return 0
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.workspace_id == ws, cond)
            ).scalar_one()
        )

    return {
        "events": count(events, subject_filter(events, req.user_ids, req.company_ids)),
        "user_profiles": count(
            user_profiles, subject_filter(user_profiles, req.user_ids, req.company_ids)
        ),
        "company_profiles": count(
            company_profiles,
            or_(*[company_profiles.c.company_id.in_(c) for c in chunks(req.company_ids)])
            if req.company_ids
            else None,
        ),
    }


def prove_store_clean(engine: Engine, req: PrivacyRequest) -> tuple[dict[str, int], dict]:
    """(rows purged now, rows left): one transaction inside the exclusive subject gate,
    so no ingestion commits between the delete and the count."""
    with subject_gate(engine, req.workspace_id, exclusive=True) as conn:
        purged = purge_store(conn, req)
        return purged, store_counts(conn, req)
