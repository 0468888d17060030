"""The HTTP edges of a real `eventsync api` process: an answer given before the body was
read (413 from the declared length, 401 without a valid key) reaches the clients that
send their whole body before reading (urllib, requests, httpx, Node's fetch) instead
of a "connection reset"; a chunked body is not read past the limit whatever the
answer; the health check's log names no host, port or role."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import requests
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from eventsync.api import create_app
from eventsync.workspaces import create_workspace
from tests.eventsync.api.server import api_server

LIMIT = 256 * 1024  # EVENTSYNC_API_MAX_BODY_BYTES's default
EVENTS_LIMIT = 5 * 2**20  # EVENTSYNC_EVENTS_MAX_BODY_BYTES's default
PATH = "/v1/privacy/erasures"
NODE = shutil.which("node")
NODE_FETCH = """
const [url, size, auth] = process.argv.slice(1);
const headers = {"Content-Type": "application/json"};
if (auth) headers["Authorization"] = auth;
fetch(url, {method: "POST", body: Buffer.alloc(Number(size), 0x20), headers})
  .then(async (r) => { console.log(JSON.stringify({status: r.status, body: await r.text()})); })
  .catch((e) => { console.log(JSON.stringify({error: String(e.cause || e)})); });
"""


def _urllib(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _requests(url: str, body: bytes, headers: dict[str, str]) -> int:
    return requests.post(url, data=body, headers=headers, timeout=30).status_code


def _httpx(url: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(url, content=body, headers=headers, timeout=30).status_code


def _node(url: str, body: bytes, headers: dict[str, str]) -> int:
    assert NODE, "node is needed"
    auth = headers.get("Authorization", "")
    out = subprocess.run(
        [NODE, "-e", NODE_FETCH, url, str(len(body)), auth],
        capture_output=True,
        text=True,
        timeout=60,
    )
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert "status" in answer, answer
    return answer["status"]


CLIENTS: dict[str, Callable[[str, bytes, dict[str, str]], int]] = {
    "urllib": _urllib,
    "requests": _requests,
    "httpx": _httpx,
    "node-fetch": _node,
}


@pytest.mark.slow
@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_every_client_reads_an_early_413_and_401(es_home: Path, engine) -> None:
    key = create_workspace(engine, "edges").api_key
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    no_key = {"Content-Type": "application/json"}
    bad_key = {**no_key, "Authorization": "Bearer esk_nosuchkey_" + "x" * 43}
    # Refused from Content-Length, before the key: a client still sending when the
    # server closed saw "connection reset" / "broken pipe" (urllib from about 1 MiB).
    over = b" " * (EVENTS_LIMIT + 4 * 2**20)
    over_small = b" " * (2 * LIMIT - 1024)
    under = b" " * (LIMIT - 1024)  # refused from the headers: no valid key
    # 12 made-up keys from one address: within the failed-authentication budget, whatever
    # the pace (its 429 is tests/eventsync/api/test_auth.py's).
    with api_server(es_home, EVENTSYNC_AUTH_FAILURE_BURST="100") as server:
        url, events_url = server.base + PATH, server.base + "/v1/events"
        seen = {}
        for name, client in CLIENTS.items():
            for _ in range(3):  # the reset was a race: each client, more than once
                seen[(name, "413 with key")] = client(events_url, over, headers)
                seen[(name, "413 without key")] = client(events_url, over, no_key)
                seen[(name, "413 small limit")] = client(url, over_small, no_key)
                seen[(name, "401 bad key")] = client(url, under, bad_key)
                seen[(name, "401 no key")] = client(url, under, no_key)
                assert seen == {k: int(k[1][:3]) for k in seen}, (
                    f"clients' view of the early answers: {seen}"
                )
        # The server still serves.
        assert httpx.get(f"{server.base}/v1/syncs", headers=headers).status_code == 200


def _stream_until_closed(port: int, head: str, seconds: float) -> tuple[int, bool]:
    """Send a never-ending chunked body; (bytes sent, whether the server closed)."""
    chunk = b" " * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sent = 0
    deadline = time.monotonic() + seconds
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head.encode())
        while time.monotonic() < deadline:
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
                return sent, True
            sent += len(chunk)
    return sent, False


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "auth"),
    [
        (PATH, None),  # 401 before the body
        ("/v1/no-such-path", "valid"),  # 404 without reading the body
        ("/v1/events", "valid"),  # 405 for PUT, without reading the body
        (PATH, "valid"),  # read by the route: 413 at the limit
    ],
)
def test_a_chunked_body_is_not_read_past_the_limit(
    es_home: Path,
    engine,
    path: str,
    auth: str | None,
) -> None:
    key = create_workspace(engine, "edges").api_key
    method = "PUT" if path == "/v1/events" else "POST"
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Transfer-Encoding: chunked"]
    lines.append("Content-Type: text/plain")
    if auth:
        lines.append(f"Authorization: Bearer {key}")
    with api_server(es_home) as server:
        sent, closed = _stream_until_closed(server.port, "\r\n".join(lines) + "\r\n\r\n", 20)
    # The server stops at the limit; what the kernel buffers on both sides holds is the
    # rest (a few MiB on loopback). Before, it read on: gigabytes in 20 s.
    assert closed, f"the server read {sent / 2**20:.0f} MiB of a refused body and went on"
    assert sent < 64 * 2**20


def test_the_health_log_names_no_host_port_or_role(
    caplog: pytest.LogCaptureFixture, es_home: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql+psycopg2://secretrole:pw@127.0.0.1:{port}/secretdb?connect_timeout=2"
    client = TestClient(create_app(create_engine(url)))
    with caplog.at_level(logging.DEBUG):
        r = client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "not ok"}
    text = caplog.text
    assert "health check failed" in text
    for detail in ("127.0.0.1", str(port), "secretrole", "secretdb", "pw@"):
        assert detail not in text, f"{detail!r} in the log: {text}"
