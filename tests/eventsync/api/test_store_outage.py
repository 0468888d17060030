"""Ingestion through a store outage, end to end: a real `eventsync api` process talks to
a real PostgreSQL through a TCP proxy (tests/tcpproxy.py) that refuses connections for
seconds and drops open ones, and the server terminates the API's backends, while two
clients send batches. Every 2xx-acknowledged event is in the store; every other batch
got 503 with Retry-After and is stored whole or not at all; sent again, each batch is
acknowledged and every event is stored once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, select, text

from eventsync.api import create_app
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import events
from eventsync.workspaces import create_workspace
from tests.eventsync.api.server import api_server
from tests.tcpproxy import TcpProxy

EVENTS_PER_BATCH = 25
ALREADY_STORED = "(already stored in this workspace)"


def _batch(name: str) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"{name}-{i}",
            "event_type": "track",
            "event_name": "Report Created",
            "user_id": f"u{i % 5}",
            "occurred_at": "2025-03-09T10:00:00Z",
        }
        for i in range(EVENTS_PER_BATCH)
    ]


def _terminate_backends(admin_url: str, database: str) -> int:
    """pg_terminate_backend of every connection to `database` (the API's)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": database},
                ).all()
            )
    finally:
        admin.dispose()


def _outage(proxy: TcpProxy, admin_url: str, database: str) -> None:
    """Connections refused for 3 s, open ones dropped again and again, backends
    terminated by the server, refused for 2 s more."""
    proxy.refuse()
    time.sleep(3)
    proxy.accept()
    for _ in range(6):
        time.sleep(0.4)
        proxy.cut()
    time.sleep(0.4)
    _terminate_backends(admin_url, database)
    time.sleep(0.4)
    proxy.refuse()
    time.sleep(2)
    proxy.accept()


@pytest.mark.slow  # real servers and processes for a minute: make test, not test-fast
def test_every_acknowledged_event_is_stored_through_a_store_outage(
    pg_url: str, pg_server_url: str, es_home: Path
) -> None:
    upgrade(pg_url)
    engine = engine_for(pg_url)
    key = create_workspace(engine, "outage").api_key
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    env = {
        "EVENTSYNC_DATABASE_URL": url.set(port=proxy.port).render_as_string(hide_password=False),
        "EVENTSYNC_KEY_CACHE_SECONDS": "1",  # the key is read again during the outage too
        "EVENTSYNC_INGEST_RATE": "1000000",
        "EVENTSYNC_INGEST_BURST": "1000000",
    }
    answers: dict[str, httpx.Response] = {}
    try:
        with api_server(es_home, **env) as server:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:

                def send(name: str) -> None:
                    answers[name] = client.post("/v1/events", json={"events": _batch(name)})

                for k in range(5):
                    send(f"before{k}")
                stop = threading.Event()

                def clients(tag: str) -> None:
                    k = 0
                    while not stop.is_set():
                        send(f"{tag}{k}")
                        k += 1
                        time.sleep(0.05)

                senders = [threading.Thread(target=clients, args=(t,)) for t in ("a", "b")]
                for s in senders:
                    s.start()
                _outage(proxy, pg_server_url, url.database or "")
                time.sleep(1)
                stop.set()
                for s in senders:
                    s.join(120)
                for k in range(5):
                    send(f"after{k}")

                statuses = {r.status_code for r in answers.values()}
                assert statuses <= {200, 503}, statuses
                refused = sorted(n for n, r in answers.items() if r.status_code == 503)
                acked = sorted(n for n, r in answers.items() if r.status_code == 200)
                assert refused, "the outage produced no 503"
                assert all(n in acked for n in ("before0", "after4"))
                for name in refused:
                    r = answers[name]
                    assert int(r.headers["retry-after"]) >= 1
                    assert r.json()["detail"].startswith("the event store is unavailable")
                stored = _stored_ids(engine)
                for name in acked:
                    body = answers[name].json()
                    assert (body["accepted"], body["rejected"]) == (EVENTS_PER_BATCH, []), name
                    assert {e["event_id"] for e in _batch(name)} <= stored, name
                for name in refused:  # whole or nothing: never a partial batch
                    held = {e["event_id"] for e in _batch(name)} & stored
                    assert len(held) in (0, EVENTS_PER_BATCH), (name, len(held))

                # Sent again, every refused batch is acknowledged; what an attempt stored
                # (its answer lost with the connection) comes back as duplicates.
                for name in refused:
                    r = client.post("/v1/events", json={"events": _batch(name)})
                    assert r.status_code == 200, r.text
                    body = r.json()
                    assert all(ALREADY_STORED in x["reason"] for x in body["rejected"])
                    assert body["accepted"] + len(body["rejected"]) == EVENTS_PER_BATCH
            assert "Traceback" not in server.log()
    finally:
        proxy.close()
    with engine.connect() as conn:
        ids = conn.execute(select(events.c.event_id)).scalars().all()
    assert len(ids) == len(set(ids)) == EVENTS_PER_BATCH * len(answers)


def _stored_ids(engine) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return set(conn.execute(select(events.c.event_id)).scalars())


def test_every_endpoint_answers_a_store_fault_with_503(pg_url: str, es_home: Path) -> None:
    """Past the guard (the key verified moments ago, so not read again) and at the guard
    (a key never seen): a store that refuses connections is 503 with Retry-After on any
    endpoint, never a 500 and never the input's fault."""
    upgrade(pg_url)
    setup = engine_for(pg_url)
    key = create_workspace(setup, "outage").api_key
    other = create_workspace(setup, "other").api_key
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    engine = create_engine(url.set(port=proxy.port), pool_pre_ping=True)
    try:
        client = TestClient(create_app(engine))
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/privacy/erasures", headers=headers).status_code == 200
        proxy.refuse()
        for method, path, body in (
            ("GET", "/v1/privacy/erasures", None),
            ("POST", "/v1/privacy/erasures", {"user_ids": ["u1"]}),
            ("POST", "/v1/events", {"events": _batch("down")}),
        ):
            for auth in (headers, {"Authorization": f"Bearer {other}"}):
                r = client.request(method, path, json=body, headers=auth)
                assert r.status_code == 503, (method, path, r.text)
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["detail"].startswith("the event store is unavailable")
        # The outage shows on /metrics while it lasts (six 503s above).
        scraped = client.get("/metrics").text
        assert "eventsync_store_faults_total 6.0" in scraped
        proxy.accept()
        r = client.post("/v1/events", json={"events": _batch("up")}, headers=headers)
        assert (r.status_code, r.json()["accepted"]) == (200, EVENTS_PER_BATCH)
        assert (
            f"eventsync_events_ingested_total {float(EVENTS_PER_BATCH)}"
            in client.get("/metrics").text
        )
    finally:
        proxy.close()
        engine.dispose()
    assert _stored_ids(setup) == {e["event_id"] for e in _batch("up")}
