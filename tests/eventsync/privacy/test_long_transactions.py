"""No step of a privacy request holds a database transaction open while it uploads or
rewrites files: an erasure whose `exports` step takes longer than the server's
`idle_in_transaction_session_timeout` (5 s, set on the test database) completes and
verifies -- with the export/erasure lock held inside a transaction (as it once was),
the server ended that session after 5 s idle and the step failed; and an access export
reads the subject's events a page at a time, never idle inside a transaction."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from eventsync.privacy import access_export, request_store, runner
from eventsync.store.connection import engine_for
from eventsync.workspaces import create_workspace
from tests.eventsync.privacy.scenario import (
    DAYS,
    TARGET,
    TARGET_EXPORTED_ROWS,
    check_day,
    seed,
    slow_opener,
)
from tests.factories import insert_day

UPLOAD_SECONDS = 1.5  # six uploads (two days x two formats, two manifests): over 5 s


def _seconds(step) -> float:  # type: ignore[no-untyped-def]
    return (
        datetime.fromisoformat(step.finished_at) - datetime.fromisoformat(step.started_at)
    ).total_seconds()


@pytest.mark.slow  # real servers and processes for a minute: make test, not test-fast
def test_an_erasure_completes_under_a_5s_idle_in_transaction_timeout(
    pg_store_url: str, tmp_path: Path
) -> None:
    engine = engine_for(pg_store_url)
    database = make_url(pg_store_url).database
    with engine.connect() as conn:
        conn.execute(
            text(f"ALTER DATABASE \"{database}\" SET idle_in_transaction_session_timeout = '5s'")
        )
        conn.commit()
    engine.dispose()  # sessions opened from now on run under the timeout
    with engine.connect() as conn:
        assert conn.execute(text("SHOW idle_in_transaction_session_timeout")).scalar() == "5s"
    root = tmp_path / "dest"
    sync = seed(engine, root)
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "t")

    done = runner.run_all(engine, req.id, "t", opener=slow_opener(UPLOAD_SECONDS))

    assert done.status == "completed" and done.verified_at, done.error
    assert _seconds(done.progress.steps["exports"]) > 5  # longer than the timeout
    dest = done.progress.destinations[sync.id]
    assert sorted(dest.days_rewritten) == list(DAYS)
    assert dest.rows_removed == TARGET_EXPORTED_ROWS
    for day in DAYS:
        assert TARGET not in {r["user_id"] for r in check_day(engine, root, sync.id, day)}


def _idle_in_transaction(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
            )
        ).scalar_one()


def test_an_access_export_reads_the_subject_outside_any_transaction(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the access export validates and writes a day, no session of the store
    sits in a transaction: the subject's events are read a page at a time."""
    engine = engine_for(pg_store_url)
    ws = create_workspace(engine, "acme").workspace_id
    for day in DAYS:
        insert_day(engine, ws, day, 26)
    req = request_store.create_request(engine, ws, "access_export", [TARGET], [], "t")
    monkeypatch.setattr(access_export, "PAGE_ROWS", 1)
    handled = []
    for day, batch in access_export.subject_days(engine, req):
        assert _idle_in_transaction(engine) == 0, day
        handled.append((day, batch.num_rows))
    assert handled == [(DAYS[0], 2), (DAYS[1], 2)]  # rows 3 and 16 of each factory day
