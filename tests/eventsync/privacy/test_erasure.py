"""An erasure killed at any point -- after any step's work but before it was recorded,
after a day's first file, between a day's files and its manifest, between the manifest
and the ledger row, between the ledger row and the index -- is retried to `completed`
with files, manifests, ledger rows and counts consistent and verified.

The crash is real: the erasure runs in a child process that SIGKILLs itself at the
point; the retry comes after its lease expired."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, event, func, select

from eventsync.engine.staging import quarantine_path, staging_dir
from eventsync.privacy import request_store, runner, steps
from eventsync.store.schema import events, export_subjects, user_profiles
from tests.eventsync.privacy.scenario import (
    DAYS,
    TARGET,
    TARGET_EXPORTED_ROWS,
    check_day,
    seed,
)

LEASE = "1"
POINTS = [
    *(f"step:{s}" for s in steps.STEPS),
    "after_first_file",  # a day's first file rewritten, its second not
    "before_manifest",  # every file of the day rewritten, the manifest not
    "before_ledger",  # the manifest written, the ledger row not
    "before_index",  # the ledger row written, the index not yet cleared
    "second_day",  # the first day recorded, the second not started
]


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Crashing:
    """The real local destination, killing the process at the configured point."""

    def __init__(self, inner, point: str) -> None:  # type: ignore[no-untyped-def]
        self._inner, self._point = inner, point
        self._puts = 0
        self._manifest_reads = 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)

    def put_file(self, key: str, path: Path, content_type: str | None = None, **kw):  # type: ignore[no-untyped-def]
        self._puts += 1
        if self._point == "after_first_file" and self._puts == 2:
            _die()
        return self._inner.put_file(key, path, content_type, **kw)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None, **kw):  # type: ignore[no-untyped-def]
        if self._point == "before_manifest" and "/_manifests/" in key:
            _die()
        return self._inner.put_bytes(key, data, content_type, **kw)

    def get_bytes(self, key: str) -> bytes:
        if "/_manifests/" in key and DAYS[1] in key:
            self._manifest_reads += 1
            if self._point == "second_day":
                _die()
        return self._inner.get_bytes(key)


def crash_child(request_id: str, point: str) -> None:
    """Run the erasure in this (spawned) process until `point`, then die."""
    from eventsync.privacy.opener import default_opener
    from eventsync.store.connection import default_engine

    engine = default_engine()
    if point.startswith("step:"):
        name, original = point[5:], steps.erasure_step

        def wrapped(step):  # type: ignore[no-untyped-def]
            fn = original(step)
            return (lambda ctx: (fn(ctx), _die())) if step == name else fn

        steps.erasure_step = wrapped
    sql = {"before_ledger": "UPDATE export_ledger", "before_index": "DELETE FROM export_subjects"}
    if point in sql:

        @event.listens_for(engine, "before_cursor_execute")
        def _hook(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
            if statement.lstrip().startswith(sql[point]):
                _die()

    runner.run_all(
        engine,
        request_id,
        "test",
        owner="crashing-child",
        opener=lambda sync: _Crashing(default_opener(sync), point),
    )


@pytest.mark.slow
@pytest.mark.parametrize("point", POINTS)
def test_an_erasure_killed_at_any_point_is_retried_to_a_consistent_verified_end(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    monkeypatch.setenv("EVENTSYNC_PRIVACY_LEASE_SECONDS", LEASE)
    root = tmp_path / "dest"
    sync = seed(engine, root)
    req = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "test")
    child = mp.get_context("spawn").Process(target=crash_child, args=(req.id, point))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL, f"the crash point {point} was not reached"
    killed = request_store.get_request(engine, req.id)
    assert killed.status == "running" and killed.lease_owner == "crashing-child"

    time.sleep(float(LEASE) + 0.2)  # the dead owner's lease expires
    runner.retry(engine, req.id, "test")
    done = runner.run_all(engine, req.id, "test", owner="recovery")

    assert done.status == "completed" and done.verified_at
    dest = done.progress.destinations[sync.id]
    assert sorted(dest.days_rewritten) == list(DAYS)
    assert dest.rows_removed == TARGET_EXPORTED_ROWS
    assert not done.progress.in_flight.get(sync.id)
    for day in DAYS:
        rows = check_day(engine, root, sync.id, day)
        assert TARGET not in {r["user_id"] for r in rows} and len(rows) in (23, 24)
        staged = pq.read_table(staging_dir(sync.id, day) / "events.parquet")
        assert TARGET not in staged.column("user_id").to_pylist()
    quarantined = pq.read_table(quarantine_path(sync.id, DAYS[0]))
    assert TARGET not in quarantined.column("user_id").to_pylist()
    with engine.connect() as conn:
        for table in (events, user_profiles, export_subjects):
            column = table.c.subject_id if table is export_subjects else table.c.user_id
            n = conn.execute(select(func.count()).select_from(table).where(column == TARGET))
            assert n.scalar_one() == 0, table.name
    # each step's work was recorded once (a re-run step records itself again, once)
    actions = [e["action"] for e in request_store.audit_log(engine, req.id)]
    assert actions.count("completed") == 1
    assert actions.count("step:suppress") == 1
