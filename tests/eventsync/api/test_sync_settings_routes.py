"""`POST /v1/syncs` and `PATCH /v1/syncs/{id}`: a key with `syncs:write` creates a sync
and changes its frequency and filters; a wrong setting is 422 naming it, another
workspace's sync is 404, every change is audited, and the default key cannot do it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventsync import audit
from eventsync.api import create_app
from eventsync.syncs.config import create_sync, get_sync
from eventsync.workspaces import create_key, create_workspace


@pytest.fixture
def env(engine: Engine, tmp_path):
    a = create_workspace(engine, "a")
    b = create_workspace(engine, "b")
    writer = create_key(engine, a.workspace_id, ["syncs:write", "syncs:read"])
    sync_a = create_sync(engine, a.workspace_id, str(tmp_path / "a"))
    sync_b = create_sync(engine, b.workspace_id, str(tmp_path / "b"))
    client = TestClient(create_app(engine))
    client.headers["Authorization"] = f"Bearer {writer}"
    return client, a, b, sync_a, sync_b


def test_create_an_hourly_sync_with_name_filters(engine: Engine, env) -> None:
    client, a, *_ = env
    body = {
        "destination": "s3://exports-bucket/acme",
        "frequency": "hourly",
        "formats": ["jsonl", "parquet"],
        "event_names": ["Signed Up", "checklist:*"],
        "check": False,
    }
    r = client.post("/v1/syncs", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    stored = get_sync(engine, made["id"], a.workspace_id)
    assert (stored.frequency, stored.formats) == ("hourly", ["jsonl", "parquet"])
    assert stored.event_names == ["Signed Up", "checklist:*"]
    assert made["frequency"] == "hourly" and "options" not in made
    (entry,) = audit.query(engine, a.workspace_id, audit.Filter(source="api"))
    assert (entry.action, entry.target) == ("api.POST /v1/syncs", made["id"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"destination": "s3://b/x", "frequency": "weekly"}, "frequency"),
        ({"destination": "/etc/exports"}, "destination"),
        ({"destination": "s3://b/x", "formats": ["jsonl"], "compression": "snappy"}, "compression"),
        ({"destination": "s3://b/x", "event_names": ["a\x01"]}, "event_names"),
        ({"destination": "s3://b/x", "event_types": ["click"]}, "event_types"),
    ],
)
def test_a_wrong_setting_is_422_naming_it(engine: Engine, env, body: dict, field: str) -> None:
    client, *_ = env
    r = client.post("/v1/syncs", json={**body, "check": False})
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"][0]["loc"], r.json()
    assert len(client.get("/v1/syncs").json()["syncs"]) == 1  # nothing stored


def test_patch_changes_frequency_and_filters(engine: Engine, env) -> None:
    client, a, _, sync_a, _ = env
    r = client.patch(f"/v1/syncs/{sync_a.id}", json={"frequency": "hourly", "event_names": ["x*"]})
    assert r.status_code == 200, r.text
    assert get_sync(engine, sync_a.id).frequency == "hourly"
    assert get_sync(engine, sync_a.id).event_names == ["x*"]
    r = client.patch(f"/v1/syncs/{sync_a.id}", json={"frequency": "daily", "event_names": None})
    assert r.json()["frequency"] == "daily" and r.json()["event_names"] is None
    assert get_sync(engine, sync_a.id).event_names is None
    entries = audit.query(engine, a.workspace_id, audit.Filter(source="api"))
    assert [(e.action, e.target) for e in entries] == [
        ("api.PATCH /v1/syncs/{sync_id}", sync_a.id)
    ] * 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"frequency": "weekly"}, "frequency"),
        ({"frequency": None}, "frequency"),
        ({"destination": "s3://other/x"}, "destination"),
        ({"formats": ["csv"], "compression": "snappy"}, "compression"),
    ],
)
def test_patch_refuses_wrong_settings(engine: Engine, env, body: dict, field: str) -> None:
    client, _, _, sync_a, _ = env
    r = client.patch(f"/v1/syncs/{sync_a.id}", json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"][0]["loc"], r.json()
    assert get_sync(engine, sync_a.id) == sync_a


def test_another_workspaces_sync_is_404_and_unchanged(engine: Engine, env) -> None:
    client, _, _, _, sync_b = env
    r = client.patch(f"/v1/syncs/{sync_b.id}", json={"frequency": "hourly"})
    assert r.status_code == 404
    assert get_sync(engine, sync_b.id).frequency == "daily"


def test_the_workspace_default_key_cannot_change_syncs(engine: Engine, env) -> None:
    client, a, _, sync_a, _ = env
    r = client.patch(
        f"/v1/syncs/{sync_a.id}",
        json={"frequency": "hourly"},
        headers={"Authorization": f"Bearer {a.api_key}"},
    )
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "this API key lacks the scope 'syncs:write'",
    )
