"""A small erasure scenario shared by the privacy tests: a workspace whose TARGET user
has rows on two exported days (one of them quarantined), read back independently."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine, select

from eventsync.engine import layout
from eventsync.engine.day_export import export_partition
from eventsync.engine.formats import staging_codec
from eventsync.engine.staging import stage_day
from eventsync.privacy.opener import default_opener
from eventsync.settings import database_url
from eventsync.store.schema import export_ledger
from eventsync.syncs.config import Sync, create_sync
from eventsync.workspaces import create_workspace
from tests.factories import insert_day

DAYS = ("2025-03-01", "2025-03-02")
TARGET = "user-3"  # rows 3 and 16 of a factory day
TARGET_EXPORTED_ROWS = 3  # row 16 of the first day is invalid: quarantined, not exported


def export_days(engine: Engine, sync: Sync, days: tuple[str, ...] = DAYS) -> None:
    """Stage and export days the way events_daily + events_export do (without Dagster)."""
    for day in days:
        codec = staging_codec(sync.formats, sync.compression)
        stage = stage_day(database_url(), engine, sync.id, sync.workspace_id, day, codec=codec)
        export_partition(engine, stage, sync.formats, sync.compression, default_opener(sync))


def seed(engine: Engine, root: Path, formats: tuple[str, ...] = ("parquet", "jsonl")) -> Sync:
    """Workspace + local sync at `root`, both DAYS exported with TARGET in them."""
    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAYS[0], 26, i16={"event_type": "bogus"})
    insert_day(engine, ws, DAYS[1], 26)
    sync = create_sync(engine, ws, str(root), formats=list(formats), compression="zstd")
    export_days(engine, sync)
    return sync


def rows_of(key: str, data: bytes) -> list[dict[str, Any]]:
    """Rows of an exported file, read with pyarrow / pandas (not eventsync's readers)."""
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    codec = "gzip" if key.endswith(".gz") else "zstd" if key.endswith(".zst") else None
    if codec:
        with pa.input_stream(pa.BufferReader(data), compression=codec) as stream:
            data = stream.read()
    if ".csv" in key:
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False).to_dict("records")
    return pd.read_json(io.BytesIO(data), lines=True, dtype=False).to_dict("records")


def check_day(engine: Engine, root: Path, sync_id: str, day: str) -> list[dict[str, Any]]:
    """Assert the day's manifest matches its files (sha256, rows) and the ledger row
    matches the manifest; returns the rows of the first file."""
    manifest = json.loads((root / layout.manifest_key(sync_id, day)).read_text())
    first: list[dict[str, Any]] | None = None
    for f in manifest["files"]:
        data = (root / f["key"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["key"]
        rows = rows_of(f["key"], data)
        assert len(rows) == f["rows"] == manifest["rows"], f["key"]
        first = rows if first is None else first
    with engine.connect() as conn:
        row = conn.execute(
            select(export_ledger).where(
                export_ledger.c.sync_id == sync_id, export_ledger.c.day == day
            )
        ).one()
    assert json.loads(row.files) == manifest["files"]
    assert row.rows == manifest["rows"] and row.export_id == manifest["export_id"]
    return first or []


class SlowLink:
    """The real destination behind a slow network link: every upload takes `seconds`
    longer (the bytes land as the destination writes them)."""

    def __init__(self, inner: Any, seconds: float) -> None:
        self._inner, self._seconds = inner, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put_file(self, key: str, path: Path, content_type: str | None = None, **kw: Any) -> Any:
        time.sleep(self._seconds)
        return self._inner.put_file(key, path, content_type, **kw)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None, **kw: Any) -> Any:
        time.sleep(self._seconds)
        return self._inner.put_bytes(key, data, content_type, **kw)


def slow_opener(seconds: float) -> Any:
    """An opener (sync -> destination) whose destinations upload `seconds` slower."""
    return lambda sync: SlowLink(default_opener(sync), seconds)
