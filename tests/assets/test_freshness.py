"""The freshness check: computed per sync, emitted by export_freshness_sensor (and only
again when its verdict changes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets.freshness import CHECK_NAME
from eventsync.syncs.config import create_sync
from eventsync.syncs.health import freshness
from eventsync.workspaces import create_workspace
from pipeline.sensors import export_freshness_sensor
from tests.factories import insert_day
from tests.fixtures.clock import TODAY
from tests.fixtures.dagster_env import materialize_day, tick_sensor

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def test_freshness_check_fails_for_a_stale_sync(engine, instance, resources, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    fresh = create_sync(engine, ws, str(tmp_path / "fresh"), title="fresh")
    stale = create_sync(engine, ws, str(tmp_path / "stale"), title="stale")
    three_days_ago = (TODAY - timedelta(days=3)).isoformat()
    insert_day(engine, ws, YESTERDAY, 10)
    insert_day(engine, ws, three_days_ago, 10)
    assert materialize_day(instance, resources, YESTERDAY, fresh.id).success
    assert materialize_day(instance, resources, three_days_ago, stale.id).success

    after_deadline = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7)
    passed, detail = freshness(engine, after_deadline)
    assert not passed
    assert detail[fresh.id]["fresh"] and not detail[stale.id]["fresh"]
    assert detail[stale.id]["last_exported_day"] == three_days_ago
    assert detail[stale.id]["expected_day"] == YESTERDAY
    assert detail[stale.id]["lag_days"] == 2
    # Before 06:00 UTC the day before yesterday is enough.
    before_deadline = after_deadline - timedelta(hours=2)
    early = freshness(engine, before_deadline)[1]
    assert early[stale.id]["expected_day"] == (TODAY - timedelta(days=2)).isoformat()
    assert early[fresh.id]["fresh"] and not early[stale.id]["fresh"]

    # The sensor emits the check evaluation (and only again when the verdict changes).
    result = tick_sensor(export_freshness_sensor, instance)
    (evaluation,) = result.asset_events
    assert evaluation.check_name == CHECK_NAME
    assert evaluation.asset_key == dg.AssetKey("events_export")
    assert evaluation.passed is False
    assert stale.id in evaluation.description and fresh.id not in evaluation.description
    again = tick_sensor(export_freshness_sensor, instance, result.cursor)
    assert isinstance(again, dg.SkipReason)
    assert export_freshness_sensor.default_status == dg.DefaultSensorStatus.RUNNING

    # Catching up makes it pass.
    assert materialize_day(instance, resources, YESTERDAY, stale.id).success
    assert freshness(engine, after_deadline)[0]


def test_the_check_lists_stale_syncs_first_and_at_most_100(engine, tmp_path):
    """At 1,000 syncs the full per-sync list is ~140 KB per evaluation, once per run."""
    from assets.freshness import evaluate_freshness
    from resources import EventStoreResource

    ws = create_workspace(engine, "acme").workspace_id
    ids = [create_sync(engine, ws, str(tmp_path / f"s{i}")).id for i in range(130)]
    ev = evaluate_freshness(EventStoreResource())  # none exported yet: all stale
    assert not ev.passed
    assert ev.metadata["enabled_syncs"].value == ev.metadata["stale_syncs"].value == 130
    assert len(ev.metadata["syncs"].value) == 100
    assert set(ev.metadata["syncs"].value) <= set(ids)
    assert ev.description.startswith("130 of 130 syncs stale -- ")
    assert ev.description.endswith("| and 110 more")
