"""HTTP API: auth, POST /v1/events, health, and the real `eventsync api` server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from eventsync.api import create_app
from eventsync.store.schema import events
from eventsync.workspaces import create_workspace, revoke_key
from tests.eventsync.api.server import api_server


def ev(event_id: str, **over: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "track",
        "event_name": "Report Created",
        "user_id": "u1",
        "occurred_at": "2025-03-09T10:00:00Z",
        **over,
    }


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


@pytest.fixture
def key(engine: Engine) -> str:
    return create_workspace(engine, "API tests").api_key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_missing_or_invalid_key_is_401(client: TestClient, engine: Engine, key: str) -> None:
    body = {"events": [ev("a")]}
    r = client.post("/v1/events", json=body)
    assert r.status_code == 401
    assert r.json()["detail"].startswith("missing API key")
    assert r.headers["www-authenticate"] == "Bearer"
    for bad in ("nonsense", key[:-2] + "xx", "esk_0000000000000000_secret"):
        r = client.post("/v1/events", json=body, headers=bearer(bad))
        assert (r.status_code, r.json()["detail"]) == (401, "invalid or revoked API key")
        assert bad not in r.text  # the key is never echoed
    revoke_key(engine, key)
    assert client.post("/v1/events", json=body, headers=bearer(key)).status_code == 401
    with engine.connect() as conn:
        assert conn.execute(select(events)).first() is None


def test_mixed_batch_keeps_valid_events(client: TestClient, engine: Engine, key: str) -> None:
    batch = [
        ev("a"),
        ev("b", event_type="pageview"),
        42,
        ev("c", nps_score=3, event_type="nps_response"),
        ev("a"),
        ev("d", occurred_at="2025-03-09 10:00"),
    ]
    r = client.post("/v1/events", json={"events": batch}, headers=bearer(key))
    assert r.status_code == 200
    data = r.json()
    assert data["accepted"] == 2
    assert [(x["index"], x["event_id"]) for x in data["rejected"]] == [
        (1, "b"),
        (2, None),
        (4, "a"),
        (5, "d"),
    ]
    assert data["rejected"][0]["reason"].startswith("unknown event_type 'pageview'")
    assert data["rejected"][1]["reason"] == "event must be a JSON object, got int"
    assert "duplicate event_id 'a'" in data["rejected"][2]["reason"]
    assert "has no timezone" in data["rejected"][3]["reason"]
    # A retried batch duplicates nothing.
    again = client.post("/v1/events", json={"events": [ev("a"), ev("c")]}, headers=bearer(key))
    assert again.json()["accepted"] == 0
    assert all("already stored" in x["reason"] for x in again.json()["rejected"])
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.event_id, events.c.source).order_by(events.c.event_id)
        ).all()
    assert [tuple(r) for r in rows] == [("a", "backend-http"), ("c", "backend-http")]


def test_oversize_or_malformed_body_is_422(client: TestClient, engine: Engine, key: str) -> None:
    r = client.post(
        "/v1/events", json={"events": [ev(f"e{i}") for i in range(1001)]}, headers=bearer(key)
    )
    assert r.status_code == 422
    assert r.json()["message"] == (
        "body.events: at most 1000 events per request, got 1001; split the batch"
    )
    assert len(r.content) < 2000  # the batch is not echoed back
    r = client.post("/v1/events", json={"event": [ev("x")]}, headers=bearer(key))
    assert r.status_code == 422
    assert r.json()["message"].startswith("body.events: Field required")
    r = client.post(
        "/v1/events",
        content=b"{not json",
        headers={**bearer(key), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert "JSON" in r.json()["message"]
    ok = client.post(
        "/v1/events", json={"events": [ev(f"e{i}") for i in range(1000)]}, headers=bearer(key)
    )
    assert (ok.status_code, ok.json()["accepted"]) == (200, 1000)


def test_healthz_and_openapi(client: TestClient) -> None:
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "eventsync"
    assert "/v1/events" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_healthz_says_not_ok_and_logs_why(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from eventsync.store.connection import engine_for

    empty = engine_for(f"sqlite:///{tmp_path / 'empty.db'}")
    r = TestClient(create_app(empty)).get("/healthz")
    assert (r.status_code, r.json()) == (503, {"status": "not ok"})
    assert "no such table: workspaces" in caplog.text  # the reason is in the server log


def test_healthz_reveals_no_connection_detail(pg_store_url: str) -> None:
    from sqlalchemy import make_url

    from eventsync.store.connection import engine_for

    url = make_url(pg_store_url)
    down = engine_for(url.set(port=1).render_as_string(hide_password=False))
    r = TestClient(create_app(down)).get("/healthz")
    assert (r.status_code, r.json()) == (503, {"status": "not ok"})
    for secret in (url.host, "port 1", url.username, url.database):
        assert str(secret) not in r.text


def test_database_holds_no_plaintext_api_key(engine: Engine, es_home: Path, key: str) -> None:
    secret = key.split("_", 2)[2]
    with engine.connect() as conn:
        for table in conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='table'")
        ).scalars():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                assert secret not in str(tuple(row)), table
    raw = b"".join(p.read_bytes() for p in es_home.glob("eventsync.db*"))
    assert secret.encode() not in raw


@pytest.mark.slow
def test_eventsync_api_serves_over_http(engine: Engine, es_home: Path, key: str) -> None:
    with api_server(es_home) as server:
        r = httpx.post(
            f"{server.base}/v1/events",
            json={"events": [ev("over-http")]},
            headers=bearer(key),
            timeout=10,
        )
        assert r.status_code == 200
        assert r.json() == {"accepted": 1, "rejected": []}
        with engine.connect() as conn:
            assert conn.execute(select(events.c.event_id)).scalars().all() == ["over-http"]
    output = server.log()
    assert key.split("_", 2)[2] not in output  # keys never reach the log
    assert "POST /v1/events" in output


def test_metrics_count_requests_by_route_template_and_events_by_outcome(
    client: TestClient, engine: Engine, key: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from eventsync.privacy import suppressions

    ws = client.get("/v1/syncs", headers=bearer(key))
    assert ws.status_code == 200
    suppressions.add(engine, _workspace_of(engine, key), "era_test", [("user", "gone")])
    body = {"events": [ev("m1"), ev("m2", event_type="nope"), ev("m3", user_id="gone")]}
    assert client.post("/v1/events", json=body, headers=bearer(key)).json()["accepted"] == 1
    assert client.get("/v1/privacy/erasures/era_secret123", headers=bearer(key)).status_code == 404
    assert client.post("/v1/events", json=body).status_code == 401
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }
    assert samples[("eventsync_events_ingested_total", ())] == 1
    assert samples[("eventsync_events_rejected_total", (("cause", "invalid"),))] == 1
    assert samples[("eventsync_events_rejected_total", (("cause", "erased"),))] == 1
    req = "eventsync_api_requests_total"
    assert samples[(req, (("method", "POST"), ("route", "/v1/events"), ("status", "200")))] == 1
    assert samples[(req, (("method", "POST"), ("route", "/v1/events"), ("status", "401")))] == 1
    by_template = (("method", "GET"), ("route", "/v1/privacy/erasures/{request_id}"))
    assert samples[(req, (*by_template, ("status", "404")))] == 1
    assert "era_secret123" not in r.text and "gone" not in r.text and key not in r.text


def _workspace_of(engine: Engine, key: str) -> str:
    from eventsync.store.schema import api_keys

    with engine.connect() as conn:
        return conn.execute(select(api_keys.c.workspace_id)).scalars().first()


def test_a_batch_is_parsed_off_the_event_loop(
    client: TestClient, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5 MiB batch takes tens of milliseconds to parse: in a worker thread, not on the
    event loop that serves every other request (tests/eventsync/api/
    test_ingest_fairness.py measures what that is worth)."""
    import asyncio
    import json

    from eventsync.api import event_routes

    seen: list[bool] = []
    original = json.loads

    def loads(text: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(text, bytes) and b"off-loop" in text:  # the request's body
            try:
                asyncio.get_running_loop()
                seen.append(True)  # on the event loop
            except RuntimeError:
                seen.append(False)  # in a worker thread
        return original(text, *args, **kwargs)

    monkeypatch.setattr(event_routes.json, "loads", loads)
    r = client.post("/v1/events", json={"events": [ev("off-loop")]}, headers=bearer(key))
    assert (r.status_code, r.json()["accepted"]) == (200, 1)
    assert seen == [False]
