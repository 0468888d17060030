"""/v1/privacy over HTTP: validation (nothing queued on a bad body), tenant isolation
(404 on every endpoint), rate limiting (429 + Retry-After), keys never stored or logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from eventsync.api import create_app
from eventsync.api.ratelimit import TokenBucket
from eventsync.event_limits import LIMITS
from eventsync.privacy import request_store, runner, transitions
from eventsync.privacy.states import FailureReason
from eventsync.store.schema import privacy_request_log, privacy_requests
from eventsync.workspaces import create_workspace


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize(
    ("path", "body", "status", "reason"),
    [
        ("/v1/privacy/erasures", {"user_ids": [f"u{i}" for i in range(1001)]}, 422, "at most 1000"),
        (
            "/v1/privacy/erasures",
            {
                "user_ids": [f"u{i}" for i in range(600)],
                "company_ids": [f"c{i}" for i in range(401)],
            },
            422,
            "at most 1000 ids",
        ),
        # the one subject-id rule (eventsync/subjects.py), for ids the workspace does not hold
        ("/v1/privacy/erasures", {"user_ids": [""]}, 422, "at least 1 character"),
        (
            "/v1/privacy/erasures",
            {"user_ids": ["x" * (LIMITS.subject_id + 1)]},
            422,
            f"at most {LIMITS.subject_id} characters",
        ),
        ("/v1/privacy/erasures", {"user_ids": ["a\tb"]}, 422, "control character (U+0009)"),
        ("/v1/privacy/erasures", {"company_ids": ["\u0000"]}, 422, "control character"),
        ("/v1/privacy/erasures", {"user_ids": [5]}, 422, "valid string"),
        ("/v1/privacy/erasures", {"user_ids": []}, 422, "at least one id"),
        ("/v1/privacy/erasures", {"users": ["a"]}, 422, "Extra inputs"),
        ("/v1/privacy/erasures", {"user_ids": "abc"}, 422, "valid list"),
        ("/v1/privacy/erasures", {"user_ids": ["  "]}, 422, "the id is empty"),
        ("/v1/privacy/access-exports", {"user_id": "a", "company_id": "b"}, 422, "exactly one"),
        ("/v1/privacy/access-exports", {}, 422, "exactly one"),
        ("/v1/privacy/access-exports", {"user_id": ""}, 422, "at least 1 character"),
        ("/v1/privacy/unsuppress", {"user_id": "a", "company_id": "b"}, 422, "exactly one"),
    ],
)
def test_malformed_and_oversize_bodies_are_rejected_and_nothing_is_queued(
    client: TestClient, engine: Engine, path: str, body: dict, status: int, reason: str
) -> None:
    key = create_workspace(engine, "acme").api_key
    r = client.post(path, json=body, headers=auth(key))
    assert r.status_code == status, r.text
    message = r.json().get("message") or r.json()["detail"]
    assert reason in message, message
    assert count(engine, privacy_requests) == 0
    assert count(engine, privacy_request_log) == 0


def test_not_json_is_422(client: TestClient, engine: Engine) -> None:
    key = create_workspace(engine, "acme").api_key
    r = client.post(
        "/v1/privacy/erasures",
        content=b"{not json",
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert count(engine, privacy_requests) == 0


def test_request_is_persisted_with_audit_before_202(client: TestClient, engine: Engine) -> None:
    key = create_workspace(engine, "acme").api_key
    r = client.post(
        "/v1/privacy/erasures",
        json={"user_ids": ["u1", "u1", "u2"], "company_ids": ["c"]},
        headers=auth(key),
    )
    assert r.status_code == 202
    body = r.json()
    req = request_store.get_request(engine, body["id"])
    assert (req.status, req.user_ids, req.company_ids) == ("received", ["u1", "u2"], ["c"])
    (entry,) = request_store.audit_log(engine, body["id"])
    assert entry["action"] == "received" and entry["actor"] == f"key:{key.split('_')[1]}"
    listed = client.get("/v1/privacy/erasures", headers=auth(key)).json()["requests"]
    assert [x["id"] for x in listed] == [body["id"]]
    assert client.get("/v1/privacy/access-exports", headers=auth(key)).json()["requests"] == []
    # an erasure id is not an access export
    assert (
        client.get(f"/v1/privacy/access-exports/{body['id']}", headers=auth(key)).status_code == 404
    )


def test_other_workspace_requests_are_404_on_every_endpoint(
    client: TestClient, engine: Engine
) -> None:
    key_a = create_workspace(engine, "A").api_key
    key_b = create_workspace(engine, "B").api_key
    era = client.post("/v1/privacy/erasures", json={"user_ids": ["u1"]}, headers=auth(key_b))
    acc = client.post("/v1/privacy/access-exports", json={"user_id": "u1"}, headers=auth(key_b))
    era_id, acc_id = era.json()["id"], acc.json()["id"]
    for rid in (era_id, acc_id):
        attempt = runner.claim(engine, rid, "test").attempt  # its run fails to launch
        runner.fail(engine, rid, "launch failed", "test", FailureReason.RUN_FAILED, attempt=attempt)
    before = count(engine, privacy_request_log)
    calls = [
        ("get", f"/v1/privacy/erasures/{era_id}"),
        ("post", f"/v1/privacy/erasures/{era_id}/retry"),
        ("get", f"/v1/privacy/access-exports/{acc_id}"),
        ("post", f"/v1/privacy/access-exports/{acc_id}/retry"),
    ]
    for method, path in calls:
        r = client.request(method, path, headers=auth(key_a))
        assert r.status_code == 404, (path, r.text)
        assert "not found" in r.json()["detail"] or "no " in r.json()["detail"]
    # A's lists do not show B's requests
    assert client.get("/v1/privacy/erasures", headers=auth(key_a)).json()["requests"] == []
    assert client.get("/v1/privacy/access-exports", headers=auth(key_a)).json()["requests"] == []
    # nothing changed for B's requests
    assert count(engine, privacy_request_log) == before
    assert request_store.get_request(engine, era_id).status == "failed"
    # B itself can see and retry them
    assert client.get(f"/v1/privacy/erasures/{era_id}", headers=auth(key_b)).status_code == 200
    r = client.post(f"/v1/privacy/erasures/{era_id}/retry", headers=auth(key_b))
    assert r.status_code == 202 and r.json()["status"] == "received"
    # retrying a request that is not failed is a conflict
    r = client.post(f"/v1/privacy/erasures/{era_id}/retry", headers=auth(key_b))
    assert r.status_code == 409 and "received" in r.json()["detail"]
    # no key: 401 on every endpoint
    for method, path in [*calls, ("get", "/v1/privacy/erasures"), ("post", "/v1/privacy/erasures")]:
        assert client.request(method, path).status_code == 401


def test_rate_limit_per_key_with_retry_after(client: TestClient, engine: Engine) -> None:
    ws = create_workspace(engine, "acme")
    other_key = create_workspace(engine, "other").api_key
    client.app.state.privacy_rate_limiter = TokenBucket(rate_per_minute=1, burst=3)
    for _ in range(3):
        assert client.get("/v1/privacy/erasures", headers=auth(ws.api_key)).status_code == 200
    r = client.post("/v1/privacy/erasures", json={"user_ids": ["u"]}, headers=auth(ws.api_key))
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "rate limit" in r.json()["detail"]
    assert count(engine, privacy_requests) == 0  # the limited request was not stored
    # another key has its own bucket
    assert client.get("/v1/privacy/erasures", headers=auth(other_key)).status_code == 200


def test_no_plaintext_key_in_database_or_logs(
    client: TestClient, engine: Engine, es_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = create_workspace(engine, "acme")
    key = ws.api_key
    secret = key.split("_", 2)[2]
    r = client.post("/v1/privacy/erasures", json={"user_ids": ["u1"]}, headers=auth(key))
    assert r.status_code == 202
    client.get(f"/v1/privacy/erasures/{r.json()['id']}", headers=auth(key))
    client.get("/v1/privacy/erasures/nope", headers=auth(key))
    client.post("/v1/privacy/erasures", json={"user_ids": []}, headers=auth(key))
    client.get("/v1/privacy/erasures", headers=auth(key + "x"))  # wrong key
    engine.dispose()
    blobs = [p.read_bytes() for p in es_home.rglob("*") if p.is_file()]
    assert blobs  # the SQLite store (and its WAL) are under es_home
    for blob in blobs:
        assert secret.encode() not in blob
    assert secret not in caplog.text
    assert secret not in r.text


def test_openapi_publishes_the_privacy_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/privacy/erasures",
        "/v1/privacy/erasures/{request_id}",
        "/v1/privacy/erasures/{request_id}/retry",
        "/v1/privacy/access-exports",
        "/v1/privacy/access-exports/{request_id}",
    ):
        assert path in paths, path
    assert "202" in paths["/v1/privacy/erasures"]["post"]["responses"]


def test_unsuppress_lets_an_erased_user_back_in_and_is_audited(
    client: TestClient, engine: Engine
) -> None:
    from eventsync.ingest import ingest_events

    created = create_workspace(engine, "acme")
    ws, key = created.workspace_id, created.api_key
    event = {
        "event_id": "e1",
        "event_type": "track",
        "event_name": "Clicked",
        "user_id": "alice",
        "occurred_at": "2025-04-10T10:00:00Z",
    }
    ingest_events(engine, ws, [event])
    era = client.post("/v1/privacy/erasures", json={"user_ids": ["alice"]}, headers=auth(key))
    runner.run_all(engine, era.json()["id"], "test")
    refused = client.post("/v1/events", json={"events": [event]}, headers=auth(key)).json()
    assert refused["accepted"] == 0 and refused["rejected"][0]["reason"] == "subject erased"
    # another workspace's key cannot lift it
    other = create_workspace(engine, "other").api_key
    r = client.post("/v1/privacy/unsuppress", json={"user_id": "alice"}, headers=auth(other))
    assert r.status_code == 404
    r = client.post(
        "/v1/privacy/unsuppress",
        json={"user_id": "alice", "reason": "consent given 2025-05-01"},
        headers=auth(key),
    )
    assert r.status_code == 200, r.text
    assert r.json()["erasure_request_id"] == era.json()["id"]
    entry = request_store.audit_log(engine, era.json()["id"])[-1]
    assert entry["action"] == "unsuppressed" and entry["actor"] == f"key:{key.split('_')[1]}"
    again = client.post("/v1/events", json={"events": [event]}, headers=auth(key)).json()
    assert again["accepted"] == 1
    r = client.post("/v1/privacy/unsuppress", json={"user_id": "alice"}, headers=auth(key))
    assert r.status_code == 404 and "not on the suppression list" in r.json()["detail"]


def test_a_stalled_running_request_can_be_retried_through_the_api(
    client: TestClient, engine: Engine
) -> None:
    key = create_workspace(engine, "acme").api_key
    rid = client.post("/v1/privacy/erasures", json={"user_ids": ["u1"]}, headers=auth(key))
    rid = rid.json()["id"]
    runner.claim(engine, rid, "test")
    transitions.start(engine, rid, "dead-owner", "test", lease_seconds=60)
    r = client.post(f"/v1/privacy/erasures/{rid}/retry", headers=auth(key))
    assert r.status_code == 409 and "lease runs until" in r.json()["detail"]
    # the owner dies: its lease runs out
    transitions.renew(engine, request_store.get_request(engine, rid), lease_seconds=0)
    r = client.post(f"/v1/privacy/erasures/{rid}/retry", headers=auth(key))
    assert r.status_code == 202 and r.json()["status"] == "received"
