"""Hostile input against a real `eventsync api` process, on SQLite and PostgreSQL:
huge bodies cost no memory (413/401 before the body is read), a batch of bad strings
keeps its good event and refuses each bad one with its reason, a flood of bad keys
gets 429s without slowing a legitimate client beyond 2x."""

from __future__ import annotations

import json
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select as sql_select

from eventsync.store.connection import engine_for
from eventsync.store.schema import events
from eventsync.workspaces import create_workspace
from tests.eventsync.api.server import ApiServer, api_server

pytestmark = pytest.mark.slow  # every test here runs a real `eventsync api` process
MB = 1024 * 1024
PACE = 0.02  # seconds between legitimate requests
BASELINE_SECONDS = 5.0
FLOOD = """
import sys, threading, httpx
base, threads, per_thread = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
event = {"event_id": "x", "event_type": "track", "event_name": "n", "user_id": "u",
         "occurred_at": "2025-03-09T10:00:00Z"}
codes, lock = [], threading.Lock()
def run(t):
    with httpx.Client(base_url=base, timeout=30) as c:
        for i in range(per_thread):
            bad = {"Authorization": f"Bearer esk_{t:04x}{i:012x}_{'x' * 43}"}
            code = c.post("/v1/events", json={"events": [event]}, headers=bad).status_code
            with lock:
                codes.append(code)
ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
print("ready", flush=True)
sys.stdin.readline()
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join(map(str, codes)))
"""


def peak_rss(server: ApiServer) -> int:
    """The server's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def raw_request(port: int, head: str, body: Iterator[bytes]) -> int:
    """Send a request over a plain socket, stop sending as soon as the server answers;
    returns the status code (the server may close before the body is sent)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        for chunk in body:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        while b"\r\n" not in answer:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1])


def chunks(total: int, chunked: bool) -> Iterator[bytes]:
    block = b'{"events": [' + b" " * (MB - 12)
    sent = 0
    while sent < total:
        part = block if sent == 0 else b" " * MB
        yield (f"{len(part):x}\r\n".encode() + part + b"\r\n") if chunked else part
        sent += len(part)
    if chunked:
        yield b"0\r\n\r\n"


def head(port: int, key: str | None, length: int | None) -> str:
    lines = ["POST /v1/events HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {length}" if length else "Transfer-Encoding: chunked")
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_forty_mb_bodies_are_refused_before_they_are_read(store_url: str, es_home: Path) -> None:
    key = create_workspace(engine_for(store_url), "hostile").api_key
    with api_server(es_home) as server:
        httpx.post(
            f"{server.base}/v1/events",
            json={"events": []},
            headers={"Authorization": f"Bearer {key}"},
        )
        before, rss_before = peak_rss(server), server.rss()
        size = 40 * MB
        cases = [
            (None, size, 413),  # Content-Length over the limit: refused from the header
            (None, None, 401),  # streamed, no key: refused from the headers
            (key, size, 413),
            (key, None, 413),  # streamed with a key: refused once 5 MiB have arrived
        ]
        for k, length, expected in cases:
            status = raw_request(
                server.port, head(server.port, k, length), chunks(size, length is None)
            )
            assert status == expected, (k is not None, length)
        growth = peak_rss(server) - before
        print(
            f"\nafter 4 x 40 MB requests: peak RSS grew {growth / MB:.1f} MiB, RSS "
            f"{rss_before / MB:.1f} -> {server.rss() / MB:.1f} MiB"
        )
        assert growth < 64 * MB
        # The server is still fine.
        ok = httpx.post(
            f"{server.base}/v1/events",
            json={"events": []},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert ok.status_code == 200


GOOD = {
    "event_id": "good",
    "event_type": "track",
    "event_name": "Report Created",
    "user_id": "u1",
    "occurred_at": "2025-03-09T10:00:00Z",
}


def _event(**over: object) -> str:
    return json.dumps({**GOOD, **over})


def test_a_batch_of_bad_strings_keeps_the_good_event(store_url: str, es_home: Path) -> None:
    engine = engine_for(store_url)
    key = create_workspace(engine, "hostile").api_key
    deep: object = 1
    for _ in range(200):
        deep = {"a": deep}
    items = [
        (_event(), None),
        (_event(event_id="surrogate", user_id="u").replace('"u"', '"u\\ud800"'), "lone surrogate"),
        (_event(event_id="nul\\u0000id"), "NUL character"),
        (_event(event_id="nul-user", user_id="\\u0000"), "control character (U+0000)"),
        (_event(event_id="ua", user_agent="a" * MB), "'user_agent' is too long"),
        (_event(event_id="path", pathname="/" * MB), "'pathname' is too long"),
        (_event(event_id="deep", properties=deep), "properties nest deeper than 16 levels"),
        (_event(event_id="big", properties={"b": "x" * 40_000}), "properties too large"),
        # NUL inside properties is storable: the JSON text keeps it escaped.
        (_event(event_id="nulprops", properties={"k": "\\u0000"}), None),
        (_event(event_id="ctl", user_id="u\\u0085"), "control character"),
        (_event(event_id="space", user_id=" u1"), "leading or trailing whitespace"),
    ]
    body = ('{"events": [' + ",".join(text for text, _ in items)).encode()
    # Invalid UTF-8 bytes inside a string: refused per event, not as a broken request.
    body += b"," + _event(event_id="bytes", user_id="U").replace('"U"', '"\xff\xfe"').encode(
        "latin-1"
    )
    body = body.replace(b"\\\\u", b"\\u") + b"]}"
    expectations = [reason for _, reason in items] + ["not valid UTF-8"]
    with api_server(es_home) as server:
        r = httpx.post(
            f"{server.base}/v1/events",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=60,
        )
    assert r.status_code == 200, r.text[:500]
    data = r.json()
    assert data["accepted"] == 2
    reasons = {x["index"]: x["reason"] for x in data["rejected"]}
    for index, expected in enumerate(expectations):
        if expected is None:
            assert index not in reasons
        else:
            assert expected in reasons[index], (index, reasons.get(index))
    with engine.connect() as conn:
        stored = conn.execute(sql_select(events.c.event_id, events.c.properties)).all()
    assert sorted(map(tuple, stored)) == [("good", None), ("nulprops", '{"k":"\\u0000"}')]


@pytest.mark.serial
def test_a_flood_of_bad_keys_gets_429_and_spares_legitimate_clients(engine, es_home: Path) -> None:
    key = create_workspace(engine, "victim").api_key
    auth = {"Authorization": f"Bearer {key}"}
    with api_server(
        es_home, EVENTSYNC_INGEST_RATE="100000", EVENTSYNC_INGEST_BURST="100000"
    ) as server:
        legit = httpx.Client(base_url=server.base, headers=auth, timeout=30)
        counter = iter(range(10**6))

        def one_legit() -> float:
            event = {**GOOD, "event_id": f"e{next(counter)}"}
            start = time.perf_counter()
            r = legit.post("/v1/events", json={"events": [event]})
            assert r.status_code == 200, r.text
            return time.perf_counter() - start

        def paced(until: Callable[[], bool]) -> list[float]:
            """Legitimate requests every PACE seconds until `until()` (same pacing in
            every phase, so the store grows alike and only the flood differs)."""
            out = []
            while not until():
                out.append(one_legit())
                time.sleep(PACE)
            return out

        for _ in range(5):
            one_legit()  # warm up: connection, key cache
        t0 = time.monotonic()
        before = paced(lambda: time.monotonic() - t0 > BASELINE_SECONDS)
        # The flood runs in its own process (as an attacker's would), 6 threads.
        flood = subprocess.Popen(
            [sys.executable, "-c", FLOOD, server.base, "6", "50"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert flood.stdout.readline().strip() == "ready"
        flood.stdin.write("go\n")
        flood.stdin.flush()
        during = paced(lambda: flood.poll() is not None)
        statuses = [int(x) for x in flood.stdout.read().split()]
        t1 = time.monotonic()
        after = paced(lambda: time.monotonic() - t1 > BASELINE_SECONDS)
        legit.close()
    base_median = statistics.median(before + after)
    flood_median = statistics.median(during)
    print(
        f"\nlegitimate POST /v1/events median: {statistics.median(before) * 1000:.1f} ms "
        f"before, {flood_median * 1000:.1f} ms during 300 bad-key requests from 6 threads, "
        f"{statistics.median(after) * 1000:.1f} ms after ({len(during)} samples during; "
        f"flood: {statuses.count(401)} x 401, {statuses.count(429)} x 429)"
    )
    assert len(statuses) == 300 and set(statuses) <= {401, 429}
    assert statuses.count(429) >= 250
    assert len(during) >= 5
    assert flood_median <= 2 * base_median
