"""A day that passed ingestion always exports: a day of the largest legal events (every
string field at its limit, properties at LIMITS.properties_bytes) is staged and exported
in every format by a separate process, whose peak memory stays bounded. The case of
the issue: 1,000 such events once failed every export (DuckDB's 256 MB limit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from eventsync.clock import day_bounds_us
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from tests.factories import event_row, insert_day

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-20"
EVENTS = 3_000  # 3 x the failing batch: ~100 MB of properties in one day
PEAK_RSS_LIMIT_MB = 1_024

CHILD = """
import json, sys
from eventsync.engine.day_export import export_partition
from eventsync.engine.formats import staging_codec
from eventsync.engine.staging import stage_day
from eventsync.privacy.opener import default_opener
from eventsync.syncs.config import get_sync
from eventsync.settings import database_url
from eventsync.store.connection import default_engine

engine = default_engine()
sync = get_sync(engine, sys.argv[1])
stage = stage_day(database_url(), engine, sync.id, sync.workspace_id, sys.argv[2],
                  codec=staging_codec(sync.formats, sync.compression))
result = export_partition(engine, stage, sync.formats, sync.compression, default_opener(sync))
# VmHWM: this program's own peak (ru_maxrss would count the parent's pages the fork
# copied before exec: a grown pytest worker's).
peak = next(int(line.split()[1]) for line in open("/proc/self/status")
            if line.startswith("VmHWM:")) / 1024
print(json.dumps({"rows": result.rows, "quarantined": stage.quarantined, "peak_mb": peak}))
"""


def _largest_properties(i: int) -> str:
    """A JSON object of just under LIMITS.properties_bytes (32 KiB) of text."""
    from eventsync.event_limits import LIMITS

    body = json.dumps({"i": i, "blob": ""}, separators=(",", ":"))
    return json.dumps(
        {"i": i, "blob": "x" * (LIMITS.properties_bytes - len(body) - 16)}, separators=(",", ":")
    )


def test_a_day_of_the_largest_legal_events_exports_in_every_format(engine, es_home, tmp_path):
    from eventsync.event_limits import LIMITS

    ws = create_workspace(engine, "large").workspace_id
    start, _ = day_bounds_us(DAY)
    longest = {
        name: "p" * LIMITS.width(name)
        for name in ("pathname", "user_agent", "hostname", "event_name")
    }
    overrides = {
        f"i{i}": {**longest, "properties": _largest_properties(i), "occurred_at": start + i}
        for i in range(EVENTS)
    }
    insert_day(engine, ws, DAY, EVENTS, **overrides)
    assert len(event_row(ws, DAY, 0, **overrides["i0"])["properties"]) > 32_000
    sync = create_sync(
        engine, ws, str(tmp_path / "out"), formats=["parquet", "csv", "jsonl"], compression="auto"
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, sync.id, DAY],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out["rows"], out["quarantined"]) == (EVENTS, 0)
    assert out["peak_mb"] < PEAK_RSS_LIMIT_MB, out
    parts = sorted(p.name for p in (tmp_path / "out").rglob("part-*"))
    assert parts == ["part-00000.csv.gz", "part-00000.jsonl.gz", "part-00000.parquet"]
