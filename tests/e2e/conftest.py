"""One exported workspace shared by the reader tests of a module: syncs for every
compression setting, two UTC days with the values readers get wrong, exported
through the real pipeline (Dagster materializations of events_daily +
events_export, a real instance, local folders)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from eventsync.clock import day_bounds_us
from eventsync.engine.formats import COMPRESSIONS
from eventsync.store.connection import engine_for, upgrade
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from resources import build_resources
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day

DAYS = ("2025-05-01", "2025-05-02", "2025-05-03")  # 3+ gzip files: pyarrow's readahead
EMPTY_DAY = "2025-05-04"  # exported with no rows: no data file, a manifest of 0 rows
INVALID = 5  # row i5 of each day is quarantined


@dataclass
class Exported:
    root: Path  # the folder every sync exports to
    sync_ids: dict[str, str]  # compression setting -> sync id
    expected: list[dict]  # the store's valid rows, with their partition `date`


def tricky(day: str) -> dict:
    """Row overrides (by index) with the values readers get wrong."""
    start, end = day_bounds_us(day)
    return {
        "i0": {"occurred_at": start, "received_at": start},  # 00:00:00.000000
        "i1": {"hostname": "", "pathname": None, "company_id": None},
        "i2": {"event_type": "nps_response", "nps_score": 7},
        "i3": {"event_type": "nps_response", "nps_score": 0, "country_code": ""},
        "i4": {
            "user_agent": 'Mozilla, "quoted"\r\nsecond line',
            "properties": '{\n  "note": "ünïcode, \\"quoted\\"",\n  "n": 1\n}',
        },
        f"i{INVALID}": {"properties": "not json"},
        # Legal strings that readers' default NULL markers swallow.
        "i6": {"user_id": "NA", "event_name": "NULL", "country_code": "NA"},
        "i7": {"user_id": "NULL", "hostname": "null", "browser": "N/A"},
        "i8": {"user_id": "null", "os": "nan", "session_id": "NaN"},
        "i9": {"user_id": "N/A", "company_id": "#N/A", "device_type": "None"},
        "i10": {"user_id": "nan", "pathname": "\\N", "source": "-nan"},
        "i11": {"user_id": "007", "company_id": "1e5", "event_name": "TRUE"},
        "i29": {"occurred_at": end - 1, "received_at": end + 1},  # 23:59:59.999999, late
    }


def store_rows(db: Path, workspace_id: str) -> list[dict]:
    """What the store holds, read with sqlite3 (not our code): the reference."""
    with sqlite3.connect(db) as con:
        con.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in con.execute("SELECT * FROM events WHERE workspace_id = ?", [workspace_id])
        ]
    out = []
    for r in rows:
        if r["event_id"].endswith(f"-{INVALID:06d}"):
            continue
        r = {k: v for k, v in r.items() if k not in ("id", "ingested_seq")}
        r["date"] = next(
            d for d in DAYS if day_bounds_us(d)[0] <= r["occurred_at"] < day_bounds_us(d)[1]
        )
        out.append(r)
    return sorted(out, key=lambda r: r["event_id"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    home = tmp_path_factory.mktemp("readers")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    db = home / "eventsync.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.setenv("EVENTSYNC_DATABASE_URL", f"sqlite:///{db}")
        mp.setenv("EVENTSYNC_DATA_DIR", str(home / "eventsync"))
        upgrade(f"sqlite:///{db}")
        engine = engine_for(f"sqlite:///{db}")
        ws = create_workspace(engine, "readers").workspace_id
        for day in DAYS:
            insert_day(engine, ws, day, 30, **tricky(day))
        root = home / "exports"
        sync_ids = {}
        for compression in COMPRESSIONS:
            formats = ["parquet"] if compression == "snappy" else ["parquet", "csv", "jsonl"]
            sync = create_sync(
                engine,
                ws,
                str(root),
                formats=formats,
                compression=compression,
                sync_id=f"sync_{compression}",
            )
            sync_ids[compression] = sync.id
        with dg.instance_for_test(temp_dir=str(home)) as instance:
            for sync_id in sync_ids.values():
                for day in (*DAYS, EMPTY_DAY):
                    assert materialize_day(instance, build_resources(), day, sync_id).success
        expected = store_rows(db, ws)
        assert len(expected) == len(DAYS) * 29 and json.loads(expected[0]["properties"])
        yield Exported(root, sync_ids, expected)
