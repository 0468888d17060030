"""Scoped keys on every endpoint (403 naming the scope; another workspace stays 404),
expired and revoked keys, and the limit on failed authentications per address."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from eventsync.api import create_app, guard
from eventsync.api.ratelimit import TokenBucket
from eventsync.keys import SCOPES
from eventsync.store.schema import api_keys
from eventsync.workspaces import create_key, create_workspace, revoke_key

# Every /v1 endpoint with the scope it needs and a body that would be accepted.
ENDPOINTS = [
    ("POST", "/v1/events", "events:write", {"events": []}),
    ("POST", "/v1/privacy/erasures", "privacy:write", {"user_ids": ["u1"]}),
    ("GET", "/v1/privacy/erasures", "privacy:read", None),
    ("GET", "/v1/privacy/erasures/{request_id}", "privacy:read", None),
    ("POST", "/v1/privacy/erasures/{request_id}/retry", "privacy:write", None),
    ("POST", "/v1/privacy/access-exports", "privacy:write", {"user_id": "u1"}),
    ("GET", "/v1/privacy/access-exports", "privacy:read", None),
    ("GET", "/v1/privacy/access-exports/{request_id}", "privacy:read", None),
    ("POST", "/v1/privacy/access-exports/{request_id}/retry", "privacy:write", None),
    ("POST", "/v1/privacy/unsuppress", "privacy:write", {"user_id": "u1"}),
    ("GET", "/v1/syncs", "syncs:read", None),
    ("GET", "/v1/syncs/{sync_id}/days", "syncs:read", None),
    ("POST", "/v1/syncs", "syncs:write", {"destination": "s3://bucket/x", "check": False}),
    ("PATCH", "/v1/syncs/{sync_id}", "syncs:write", {"frequency": "hourly"}),
    ("DELETE", "/v1/syncs/{sync_id}", "syncs:write", None),
]


@pytest.fixture
def client(engine: Engine) -> TestClient:
    return TestClient(create_app(engine))


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def call(client: TestClient, method: str, path: str, key: str, body: dict | None):
    path = path.format(request_id="pr_nope", sync_id="sync_nope")
    return client.request(method, path, json=body, headers=auth(key))


def test_every_v1_endpoint_is_listed_with_its_scope(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()["paths"]
    served = {(m.upper(), p) for p, ops in spec.items() if p.startswith("/v1") for m in ops}
    assert served == {(m, p) for m, p, _, _ in ENDPOINTS}
    assert {s for *_, s, _ in ENDPOINTS} == set(SCOPES)


@pytest.mark.parametrize(("method", "path", "scope", "body"), ENDPOINTS)
def test_a_key_without_the_scope_gets_403_naming_it(
    client: TestClient, engine: Engine, method: str, path: str, scope: str, body: dict | None
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    others = [s for s in SCOPES if s != scope]
    r = call(client, method, path, create_key(engine, ws, others), body)
    assert r.status_code == 403, r.text
    assert r.json() == {"detail": f"this API key lacks the scope {scope!r}"}
    r = call(client, method, path, create_key(engine, ws, [scope]), body)
    assert r.status_code in (200, 201, 202, 404), r.text  # 404: the placeholder ids


def test_cross_tenant_stays_404_with_a_scoped_key(client: TestClient, engine: Engine) -> None:
    a = create_workspace(engine, "A")
    b = create_workspace(engine, "B")
    made = client.post("/v1/privacy/erasures", json={"user_ids": ["u"]}, headers=auth(b.api_key))
    reader = create_key(engine, a.workspace_id, ["privacy:read"])
    r = client.get(f"/v1/privacy/erasures/{made.json()['id']}", headers=auth(reader))
    assert r.status_code == 404


def test_existing_and_workspace_keys_have_full_scope(client: TestClient, engine: Engine) -> None:
    key = create_workspace(engine, "acme").api_key
    for method, path, scope, body in ENDPOINTS:
        # syncs:write is given only when named (eventsync/access.py DEFAULT_KEY_SCOPES).
        expected = (403,) if scope == "syncs:write" else (200, 202, 404)
        assert call(client, method, path, key, body).status_code in expected


def test_revoked_key_is_refused_at_once_even_when_cached(
    client: TestClient, engine: Engine
) -> None:
    key = create_workspace(engine, "acme").api_key
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200  # now cached
    revoke_key(engine, key)
    r = client.get("/v1/syncs", headers=auth(key))
    assert (r.status_code, r.json()["detail"]) == (401, "invalid or revoked API key")


def test_expired_key_is_401(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_KEY_CACHE_SECONDS", "0")
    ws = create_workspace(engine, "acme").workspace_id
    key = create_key(engine, ws, expires_in_days=1)
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200
    with engine.begin() as conn:
        conn.execute(update(api_keys).values(expires_at="2000-01-01T00:00:00+00:00"))
    r = client.get("/v1/syncs", headers=auth(key))
    assert (r.status_code, r.json()["detail"]) == (401, "API key expired")


def test_revocation_by_another_process_takes_effect_within_the_cache_time(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVENTSYNC_KEY_CACHE_SECONDS", "0.5")
    key = create_workspace(engine, "acme").api_key
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200
    with engine.begin() as conn:  # what `eventsync key revoke` in another process does
        conn.execute(update(api_keys).values(revoked_at="2026-01-01T00:00:00+00:00"))
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200  # cached
    time.sleep(0.6)
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 401


def test_a_bad_setting_of_the_server_is_500_not_the_request_s_fault(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = create_workspace(engine, "acme").api_key
    monkeypatch.setenv("EVENTSYNC_KEY_CACHE_SECONDS", "soon")
    r = client.get("/v1/syncs", headers=auth(key))
    assert r.status_code == 500
    assert r.json() == {"detail": "the server is misconfigured: its log names the setting"}


def test_failed_authentications_per_address_get_429_and_good_keys_still_pass(
    client: TestClient, engine: Engine
) -> None:
    key = create_workspace(engine, "acme").api_key
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200  # verified, cached
    client.app.state.auth_failure_limiter = TokenBucket(rate_per_minute=1, burst=3)
    bad = "esk_0000000000000000_" + "x" * 43
    statuses = [client.get("/v1/syncs", headers=auth(bad)).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    started = time.monotonic()
    r = client.get("/v1/syncs", headers=auth(bad))
    assert time.monotonic() - started >= guard.BLOCKED_DELAY_SECONDS  # answered slowly
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "failed authentications" in r.json()["detail"]
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200


def test_failures_with_other_key_ids_do_not_lock_out_a_valid_key(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy that hides clients (one address for all), wrong keys from others
    do not make the API refuse a valid, not yet verified key with 429."""
    monkeypatch.setattr(guard, "BLOCKED_DELAY_SECONDS", 0.0)  # the delay is the test above's
    key = create_workspace(engine, "acme").api_key
    client.app.state.auth_failure_limiter = TokenBucket(rate_per_minute=1, burst=3)
    other = create_key(engine, create_workspace(engine, "other").workspace_id)
    made_up = [f"esk_{i:016x}_" + "x" * 43 for i in range(6)]
    wrong_secrets = ["_".join(other.split("_", 2)[:2]) + "_" + "z" * 43] * 6
    codes = [client.get("/v1/syncs", headers=auth(k)).status_code for k in made_up]
    codes += [client.get("/v1/syncs", headers=auth(k)).status_code for k in wrong_secrets]
    # Made-up keys share the address's budget; another real key's its own.
    assert codes == [401, 401, 401, 429, 429, 429] * 2
    assert client.get("/v1/syncs", headers=auth(key)).status_code == 200  # not cached
    # Guessing the secret of the valid key's id is still limited.
    key_id = key.split("_")[1]
    wrong = [
        client.get("/v1/syncs", headers=auth(f"esk_{key_id}_" + "y" * 43)).status_code
        for _ in range(5)
    ]
    assert wrong == [401, 401, 401, 429, 429]


def test_ingestion_is_rate_limited_per_key(client: TestClient, engine: Engine) -> None:
    key = create_workspace(engine, "acme").api_key
    other = create_workspace(engine, "other").api_key
    client.app.state.ingest_rate_limiter = TokenBucket(rate_per_minute=1, burst=2)
    codes = [
        client.post("/v1/events", json={"events": []}, headers=auth(key)).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    assert client.post("/v1/events", json={"events": []}, headers=auth(other)).status_code == 200


def test_missing_scope_is_documented_as_403(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()["paths"]
    for method, path, _, _ in ENDPOINTS:
        responses = spec[path][method.lower()]["responses"]
        assert {"401", "403", "413", "429", "503"} <= set(responses), (method, path)
