"""EVENTSYNC_LOG_FORMAT=json: the real `eventsync api` process writes one JSON object per
log line (its access log included), without colour codes; `text` is plain lines."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.eventsync.api.server import api_server


@pytest.mark.slow
def test_the_api_logs_json_lines(es_home: Path, engine: Engine) -> None:
    with api_server(es_home, EVENTSYNC_LOG_FORMAT="json") as server:
        assert httpx.get(f"{server.base}/healthz").status_code == 200
        assert httpx.get(f"{server.base}/v1/privacy/erasures/era_x").status_code == 401
        log = server.log()
    lines = [line for line in log.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/healthz" in r["message"] for r in access), records
    assert "\x1b[" not in log  # no colour codes
