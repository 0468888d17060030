"""Client addresses and the failed-authentication limit against real processes:
X-Forwarded-For is believed only from EVENTSYNC_TRUSTED_PROXIES (spoofing it directly
or through the documented nginx configuration, docs/nginx-api.conf, earns no new
budget), and with EVENTSYNC_REDIS_URL two API processes share one count."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
import redis

from eventsync.workspaces import create_key, create_workspace
from tests.eventsync.api.server import api_server
from tests.fixtures.nginx import nginx, self_signed
from tests.fixtures.ports import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
LIMITS = {"EVENTSYNC_AUTH_FAILURE_RATE": "1", "EVENTSYNC_AUTH_FAILURE_BURST": "4"}


def _wrong_secret(engine) -> str:
    """A new real key's id with a wrong secret (its bucket starts full)."""
    key = create_key(engine, create_workspace(engine, "target").workspace_id)
    return "_".join(key.split("_", 2)[:2]) + "_" + secrets.token_urlsafe(32)


def _spoofed(base: str, key: str, n: int, **client: object) -> list[int]:
    codes = []
    with httpx.Client(base_url=base, timeout=30, **client) as c:  # type: ignore[arg-type]
        for i in range(n):
            spoof = {"X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"}
            r = c.get("/v1/syncs", headers={"Authorization": f"Bearer {key}", **spoof})
            codes.append(r.status_code)
    return codes


def test_forwarded_for_is_ignored_from_an_untrusted_socket(es_home: Path, engine) -> None:
    create_workspace(engine, "acme")
    with api_server(es_home, **LIMITS) as server:
        codes = _spoofed(server.base, _wrong_secret(engine), 8)
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}, codes


def test_forwarded_for_through_the_documented_nginx(es_home: Path, engine, tmp_path: Path) -> None:
    key = create_workspace(engine, "acme").api_key
    trusted = {**LIMITS, "EVENTSYNC_TRUSTED_PROXIES": "127.0.0.1"}
    folder = tmp_path / "nginx"
    folder.mkdir()
    cert, pem = self_signed(folder)
    with api_server(es_home, **trusted) as server:
        upstream = f"127.0.0.1:{server.port}"
        conf = ROOT / "docs" / "nginx-api.conf"
        with nginx(folder, conf, free_port(), CERT=cert, KEY=pem, UPSTREAM=upstream) as base:
            codes = _spoofed(base, _wrong_secret(engine), 8, verify=False)
            ok = httpx.get(
                base + "/v1/syncs", headers={"Authorization": f"Bearer {key}"}, verify=False
            )
        log = server.log()
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}, codes
    assert ok.status_code == 200
    # The API saw nginx's client (127.0.0.1), never a spoofed address.
    assert ("198.51." not in log and '127.0.0.1:0 - "GET /v1/syncs' in log) or "198.51." not in log


def test_two_api_processes_share_the_count_in_redis(es_home: Path, engine) -> None:
    create_workspace(engine, "acme")
    redis.Redis.from_url(REDIS_URL).ping()
    shared = {**LIMITS, "EVENTSYNC_REDIS_URL": REDIS_URL}
    key = _wrong_secret(engine)
    with api_server(es_home, **shared) as one, api_server(es_home, **shared) as two:
        codes = []
        for i in range(8):
            base = (one, two)[i % 2].base
            r = httpx.get(base + "/v1/syncs", headers={"Authorization": f"Bearer {key}"})
            codes.append(r.status_code)
    # Each process alone would allow 4 (8 in all); together they allow 4.
    assert codes[:4] == [401] * 4 and set(codes[4:]) == {429}, codes
