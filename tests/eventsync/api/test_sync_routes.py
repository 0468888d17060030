"""`GET /v1/syncs` and `GET /v1/syncs/{id}/days`: per-day status, workspace-scoped."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from eventsync.api import create_app
from eventsync.destinations.interface import parse_destination
from eventsync.destinations.local import LocalDestination
from eventsync.engine.day_export import export_day
from eventsync.engine.export_records import record_export, record_failure
from eventsync.engine.staging import stage_day
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.clock import TODAY

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
D1, D2, D3 = [(TODAY - timedelta(days=i)).isoformat() for i in (1, 2, 3)]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def setup(engine, tmp_path):
    url = os.environ["EVENTSYNC_DATABASE_URL"]
    a = create_workspace(engine, "a")
    b = create_workspace(engine, "b")
    sync_a = create_sync(engine, a.workspace_id, str(tmp_path / "a"))
    sync_b = create_sync(engine, b.workspace_id, str(tmp_path / "b"))
    dest = LocalDestination(parse_destination(str(tmp_path / "a")))
    # D1: exported with 2 quarantined rows; D2: failed; D3: nothing.
    insert_day(
        engine,
        a.workspace_id,
        D1,
        20,
        i3={"properties": "[1, 2]"},
        i4={"event_type": "nps_response", "nps_score": 11},
    )
    stage = stage_day(url, engine, sync_a.id, a.workspace_id, D1, max_invalid_share=0.5)
    record_export(engine, stage, export_day(stage, ["parquet"], "zstd", dest))
    insert_day(engine, a.workspace_id, D2, 5)
    stage2 = stage_day(url, engine, sync_a.id, a.workspace_id, D2)
    record_failure(engine, stage2, "DestinationError: access denied by bucket policy")
    return TestClient(create_app(engine)), a, b, sync_a, sync_b


def test_list_shows_only_the_keys_workspace(setup):
    client, a, b, sync_a, sync_b = setup
    body = client.get("/v1/syncs", headers=_auth(a.api_key)).json()
    (s,) = body["syncs"]
    assert s["sync_id"] == sync_a.id
    assert s["last_exported_day"] == D1
    assert s["lag_days"] == 0
    assert s["failed_days"] == 1
    assert s["paused"] is False
    other = client.get("/v1/syncs", headers=_auth(b.api_key)).json()["syncs"]
    assert [x["sync_id"] for x in other] == [sync_b.id]
    assert other[0]["last_exported_day"] is None and other[0]["fresh"] is False
    assert client.get("/v1/syncs").status_code == 401


def test_days_give_status_reason_and_quarantined_rows(setup):
    client, a, _b, sync_a, _ = setup
    r = client.get(
        f"/v1/syncs/{sync_a.id}/days", params={"from": D3, "to": D1}, headers=_auth(a.api_key)
    )
    assert r.status_code == 200
    days = {d["day"]: d for d in r.json()["days"]}
    assert list(days) == [D1, D2, D3]  # newest first
    assert (days[D1]["status"], days[D1]["rows"], days[D1]["quarantined"]) == ("exported", 18, 2)
    assert days[D1]["export_id"]
    assert days[D2]["status"] == "failed"
    assert days[D2]["error"] == "DestinationError: access denied by bucket policy"
    assert days[D3]["status"] == "not exported"
    # Default window: the last 30 closed days.
    default = client.get(f"/v1/syncs/{sync_a.id}/days", headers=_auth(a.api_key)).json()
    assert len(default["days"]) == 30 and default["days"][0]["day"] == D1


def test_days_are_404_across_workspaces_and_bad_ranges_are_named(setup):
    client, a, b, sync_a, sync_b = setup
    across = client.get(f"/v1/syncs/{sync_a.id}/days", headers=_auth(b.api_key))
    assert across.status_code == 404
    missing = client.get("/v1/syncs/sync_nope/days", headers=_auth(b.api_key))
    assert missing.status_code == 404
    assert across.json()["detail"] == f"sync {sync_a.id!r} not found"  # same as missing
    assert client.get(f"/v1/syncs/{sync_b.id}/days", headers=_auth(b.api_key)).status_code == 200
    bad = client.get(
        f"/v1/syncs/{sync_a.id}/days", params={"from": "2026-13-01"}, headers=_auth(a.api_key)
    )
    # ConfigError is a 422 with the request-validation body: message + detail list
    assert bad.status_code == 422 and "2026-13-01" in bad.json()["message"]
    assert bad.json()["detail"][0]["loc"] == ["from"]
    reversed_ = client.get(
        f"/v1/syncs/{sync_a.id}/days", params={"from": D1, "to": D3}, headers=_auth(a.api_key)
    )
    assert reversed_.status_code == 422 and "after" in reversed_.json()["message"]
    too_long = client.get(
        f"/v1/syncs/{sync_a.id}/days",
        params={"from": "2024-01-01", "to": D1},
        headers=_auth(a.api_key),
    )
    # A longer range is paged: the newest 366 days, and where the next page ends.
    assert too_long.status_code == 200, too_long.text
    page = too_long.json()
    assert len(page["days"]) == 366 and page["days"][0]["day"] == D1
    newest = date.fromisoformat(D1)
    assert page["days"][-1]["day"] == (newest - timedelta(days=365)).isoformat()
    assert page["more_before"] == (newest - timedelta(days=366)).isoformat()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "0001-01-01"}, "from: must be between 2000-01-01"),
        ({"from": "0001-01-01", "to": "0001-01-05"}, "must be between 2000-01-01"),
        ({"to": "9999-12-31"}, "to: must be between"),
        ({"from": "garbage"}, "from: not a UTC day"),
        ({"to": "2026-02-30"}, "to: not a UTC day"),
    ],
)
def test_out_of_range_or_garbage_days_are_422_not_500(setup, params: dict, named: str):
    client, a, _b, sync_a, _ = setup
    r = client.get(f"/v1/syncs/{sync_a.id}/days", params=params, headers=_auth(a.api_key))
    assert r.status_code == 422, r.text
    assert named in r.json()["message"]
