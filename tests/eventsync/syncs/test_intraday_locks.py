"""No overlap (issue 25, item 5): an intraday export of a sync's day never runs at the
same time as that day's complete export (the partition lock: the later one is `busy`
and writes nothing) nor as an erasure step of the workspace (the workspace's
export/erasure lock: the intraday run waits for the step and then exports)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from eventsync.engine import layout
from eventsync.privacy.opener import default_opener
from eventsync.store.locks import export_lock, partition_lock
from eventsync.syncs.config import create_sync
from eventsync.syncs.export_days import Outcome
from eventsync.syncs.intraday import export_intraday, plan_intraday_from_store
from eventsync.workspaces import create_workspace
from tests.factories import insert_day

DAY = "2026-11-20"
TICK = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)


def _tick(engine: Engine, now: datetime = TICK) -> list:
    (run,) = plan_intraday_from_store(engine, now)
    return list(export_intraday(engine, str(engine.url), run, default_opener, holder="tick"))


def test_an_intraday_run_does_not_touch_a_day_the_complete_export_holds(
    engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "out"
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(root), frequency="hourly")
    insert_day(engine, ws, DAY, 20)
    with partition_lock(engine, sync.id, DAY, "run daily"):  # the complete export's
        (out,) = _tick(engine)
    assert out.kind is Outcome.BUSY
    assert not (root / layout.manifest_key(sync.id, DAY)).exists()
    (out,) = _tick(engine, TICK + timedelta(hours=1))  # the next tick, lock released
    assert out.kind is Outcome.EXPORTED
    doc = json.loads((root / layout.manifest_key(sync.id, DAY)).read_text())
    assert (doc["status"], doc["rows"]) == ("partial", 20)


def test_an_intraday_run_waits_for_an_erasure_step_of_the_workspace(
    engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "out"
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(root), frequency="hourly")
    insert_day(engine, ws, DAY, 20)
    outcomes: list = []
    manifest = root / layout.manifest_key(sync.id, DAY)
    with export_lock(engine, ws, exclusive=True):  # an erasure step cleaning files
        worker = threading.Thread(target=lambda: outcomes.extend(_tick(engine)))
        worker.start()
        time.sleep(2)
        # Still waiting: nothing staged into the destination while the step runs.
        assert worker.is_alive() and not outcomes and not manifest.exists()
    worker.join(timeout=60)
    assert [o.kind for o in outcomes] == [Outcome.EXPORTED]
    assert json.loads(manifest.read_text())["status"] == "partial"
