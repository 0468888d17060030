"""`eventsync ingest` during a store outage, end to end: the real CLI process talks to a
real PostgreSQL through a TCP proxy (tests/tcpproxy.py) that drops every connection
and refuses new ones in the middle of the file's second batch. The command exits
non-zero naming the store fault and the first line not stored; the rejects file holds
only the events' own faults; the first batch is stored whole and nothing after it.
Run again once the store is back, it stores the rest, each event once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select

from eventsync.ingest.files import FILE_CHUNK
from eventsync.store.connection import engine_for, upgrade
from eventsync.store.schema import events
from eventsync.workspaces import create_workspace
from tests.tcpproxy import TcpProxy

EVENTSYNC = Path(sys.executable).parent / "eventsync"
LINES = 3 * FILE_CHUNK
BAD_LINES = (5, FILE_CHUNK + 500, 2 * FILE_CHUNK + 500)  # one per batch: nps_score 11


def _write(path: Path, prefix: str, lines: int) -> Path:
    with path.open("w") as out:
        for n in range(1, lines + 1):
            event = {
                "event_id": f"{prefix}{n}",
                "event_type": "nps_response" if n in BAD_LINES else "track",
                "event_name": "Report Created",
                "user_id": f"u{n % 7}",
                "occurred_at": "2025-03-09T10:00:00Z",
                **({"nps_score": 11} if n in BAD_LINES else {}),
            }
            out.write(json.dumps(event) + "\n")
    return path


def _ingest(url: str, workspace: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EVENTSYNC), "ingest", "--workspace", workspace, str(path), "--json"],
        env={**os.environ, "EVENTSYNC_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _count(engine, workspace: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(events).where(events.c.workspace_id == workspace)
        ).scalar_one()


@pytest.mark.slow  # real servers and processes for a minute: make test, not test-fast
def test_ingest_stops_at_a_store_fault_and_rejects_nothing_for_it(
    pg_url: str, tmp_path: Path, es_home: Path
) -> None:
    upgrade(pg_url)
    engine = engine_for(pg_url)
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        # What one batch costs on the wire (connection, checks, one transaction).
        calibration = create_workspace(engine, "calibration").workspace_id
        one = _ingest(through_proxy, calibration, _write(tmp_path / "one.jsonl", "c", FILE_CHUNK))
        assert one.returncode == 1 and "1 of " in one.stderr, one.stderr  # its bad line
        per_batch = proxy.sent

        ws = create_workspace(engine, "outage").workspace_id
        path = _write(tmp_path / "events.jsonl", "e", LINES)
        rejects = Path(f"{path}.rejects.jsonl")
        proxy.sent = 0
        proxy.cut_after_bytes = per_batch + per_batch // 2  # inside the second batch
        run = _ingest(through_proxy, ws, path)
        assert run.returncode == 2, (run.stdout, run.stderr)
        error = json.loads(run.stderr)["error"]
        assert f"stopped at line {FILE_CHUNK + 1}: the event store is unavailable" in error
        assert f"({FILE_CHUNK - 1} accepted, 1 rejected)" in error
        lines = [json.loads(x) for x in rejects.read_text().splitlines()]
        assert [(x["line"], x["reason"]) for x in lines] == [(5, "nps_score 11 is outside 0..10")]
        assert _count(engine, ws) == FILE_CHUNK - 1  # the first batch, whole

        proxy.accept()
        again = _ingest(through_proxy, ws, path)
        assert again.returncode == 1 and "lines rejected" in again.stderr, again.stderr
        result = json.loads(again.stdout)
        assert result["accepted"] == 2 * (FILE_CHUNK - 1)
        assert _count(engine, ws) == LINES - len(BAD_LINES)
        reasons = {
            json.loads(x)["line"]: json.loads(x)["reason"] for x in rejects.read_text().splitlines()
        }
        assert {n for n, r in reasons.items() if "outside 0..10" in r} == set(BAD_LINES)
        duplicates = {n for n, r in reasons.items() if "(already stored in this workspace)" in r}
        assert duplicates == set(range(1, FILE_CHUNK + 1)) - {5}
    finally:
        proxy.close()
