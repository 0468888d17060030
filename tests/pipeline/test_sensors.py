"""new_sync_sensor: new and re-enabled syncs get their backfill once; a resumed sync
gets back only the days its pause canceled; days pending in a backfill are not
requested twice."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.partitions import closed_days
from eventsync.syncs.config import create_sync, get_sync, update_sync
from eventsync.syncs.health import pause_sync, resume_sync
from eventsync.workspaces import create_workspace
from pipeline.runs.backfills import EXPORT_ASSETS, add_requested_backfill, submit_backfill
from pipeline.runs.pause import cancel_sync_work
from pipeline.runs.tags import SYNCS_TAG
from pipeline.sensors import new_sync_sensor
from tests.fixtures.clock import TODAY
from tests.fixtures.dagster_env import tick_sensor

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test


def _days(request: dg.RunRequest) -> list[str]:
    keys = request.asset_graph_subset.partitions_subsets_by_asset_key[EXPORT_ASSETS[1]]
    return sorted(keys.get_partition_keys())


def test_new_sync_sensor_requests_backfill_once(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"), backfill_days=45)
    result = tick_sensor(new_sync_sensor, instance)
    assert len(result.run_requests) == 1
    subset = result.run_requests[0].asset_graph_subset
    assert subset.asset_keys == set(EXPORT_ASSETS)
    keys = subset.partitions_subsets_by_asset_key[EXPORT_ASSETS[1]].get_partition_keys()
    assert sorted(keys) == closed_days(45, TODAY)  # 45 dates, closed days only
    assert result.run_requests[0].tags[SYNCS_TAG] == sync.id  # ... of this sync
    assert instance.get_dynamic_partitions("sync") == []
    # Second tick with the advanced cursor: nothing new.
    second = tick_sensor(new_sync_sensor, instance, result.cursor)
    assert isinstance(second, dg.SkipReason)
    # Disabled then re-enabled: backfilled again.
    update_sync(engine, sync.id, enabled=False)
    third = tick_sensor(new_sync_sensor, instance, result.cursor)
    assert third.run_requests == []
    update_sync(engine, sync.id, enabled=True)
    fourth = tick_sensor(new_sync_sensor, instance, third.cursor)
    assert len(fourth.run_requests) == 1
    assert new_sync_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_resumed_sync_gets_back_only_the_days_its_pause_canceled(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"), backfill_days=30)
    cursor = tick_sensor(new_sync_sensor, instance).cursor  # its 30-day backfill (not run)
    window = closed_days(30, TODAY)
    pending = submit_backfill(instance, sync, window[-10:], "cli backfill")
    assert pending.backfill_id and len(pending.days) == 10
    paused, _ = pause_sync(engine, sync.id, "bucket migration", "test")
    canceled = cancel_sync_work(instance, sync.id, paused.paused_reason)
    assert canceled.backfills == [pending.backfill_id]
    assert canceled.days == window[-10:]
    backfill = instance.get_backfill(pending.backfill_id)
    assert backfill.status.value == "CANCELED"
    assert "bucket migration" in backfill.error.message
    cursor = tick_sensor(new_sync_sensor, instance, cursor).cursor  # sees it paused

    resume_sync(engine, sync.id)  # e.g. through the API: the sensor re-requests
    result = tick_sensor(new_sync_sensor, instance, cursor)
    (request,) = result.run_requests
    assert _days(request) == window[-10:]
    assert request.tags["eventsync/reason"] == "resumed sync"
    # Taken once: another pause/resume cycle without canceled work requests nothing.
    pause_sync(engine, sync.id, "again", "test")
    cursor = tick_sensor(new_sync_sensor, instance, result.cursor).cursor
    resume_sync(engine, sync.id)
    assert tick_sensor(new_sync_sensor, instance, cursor).run_requests == []
    assert get_sync(engine, sync.id).paused_reason is None


def test_days_pending_in_a_backfill_are_not_requested_again(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"), backfill_days=20)
    window = closed_days(20, TODAY)
    first = submit_backfill(instance, sync, window, "cli backfill")
    again = submit_backfill(instance, sync, window, "cli backfill")
    assert again.backfill_id is None and again.days == []
    assert again.pending == {first.backfill_id: window}
    wider = submit_backfill(instance, sync, closed_days(25, TODAY), "cli backfill")
    assert wider.days == closed_days(25, TODAY)[:5]
    assert len(instance.get_backfills()) == 2
    # The sensor's own first backfill of the sync does not duplicate them either.
    result = tick_sensor(new_sync_sensor, instance)
    assert isinstance(result, dg.SensorResult) and result.run_requests == []


def test_syncs_new_in_one_tick_share_one_backfill(engine, instance, tmp_path):
    """One backfill per group of syncs wanting the same days, not per sync: the backfill
    daemon checks every requested backfill on each pass."""
    ws = create_workspace(engine, "acme").workspace_id
    syncs = [create_sync(engine, ws, str(tmp_path / f"s{i}"), backfill_days=3) for i in range(3)]
    result = tick_sensor(new_sync_sensor, instance)
    (request,) = result.run_requests
    assert request.tags[SYNCS_TAG] == ",".join(s.id for s in syncs)
    assert request.tags["eventsync/reason"] == "new sync"
    assert _days(request) == closed_days(3, TODAY)
    # Its days count as pending for the next plan (e.g. `eventsync sync backfill`).
    multi = add_requested_backfill(instance, request)
    again = submit_backfill(instance, syncs[2], closed_days(5, TODAY), "cli backfill")
    assert again.days == closed_days(5, TODAY)[:2]
    assert again.pending == {multi: closed_days(3, TODAY)}


def test_a_tick_exports_exactly_each_new_syncs_days(engine, instance, tmp_path):
    """Syncs wanting different days: the fewest backfills that hold exactly their
    sync-days (days a requested backfill holds already are left to it)."""
    ws = create_workspace(engine, "acme").workspace_id
    syncs = [
        create_sync(engine, ws, str(tmp_path / f"s{i}"), backfill_days=3 + i) for i in range(3)
    ]
    pending = submit_backfill(instance, syncs[0], closed_days(2, TODAY), "cli backfill")
    result = tick_sensor(new_sync_sensor, instance)
    cells = {
        (day, sync_id)
        for request in result.run_requests
        for day in _days(request)
        for sync_id in request.tags[SYNCS_TAG].split(",")
    }
    wanted = {
        (day, sync.id)
        for sync in syncs
        for day in closed_days(sync.backfill_days, TODAY)
        # the two days the CLI's backfill already holds are left to it
        if not (sync is syncs[0] and day in pending.days)
    }
    assert cells == wanted and len(result.run_requests) <= 3


def test_a_tick_takes_at_most_its_limit_of_syncs_and_the_next_takes_the_rest(
    engine, instance, tmp_path, monkeypatch
):
    import pipeline.sensors

    monkeypatch.setattr(pipeline.sensors, "MAX_SYNCS_PER_TICK", 4)
    ws = create_workspace(engine, "acme").workspace_id
    syncs = [create_sync(engine, ws, str(tmp_path / f"s{i}"), backfill_days=300) for i in range(5)]
    first = tick_sensor(new_sync_sensor, instance)
    (request,) = first.run_requests
    assert request.tags[SYNCS_TAG] == ",".join(s.id for s in syncs[:4])
    second = tick_sensor(new_sync_sensor, instance, first.cursor)
    (request,) = second.run_requests
    assert request.tags["eventsync/sync"] == syncs[4].id
    assert isinstance(tick_sensor(new_sync_sensor, instance, second.cursor), dg.SkipReason)
