"""Exporting one staged day: keys from the layout, the manifest written last and
listing exactly the day's files, stale parts (other codecs, dropped formats, the
legacy folder) removed, readable local files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from eventsync.destinations.interface import parse_destination
from eventsync.destinations.local import LocalDestination
from eventsync.engine import layout
from eventsync.engine.day_export import export_day
from eventsync.engine.staging import StageResult

SYNC, DAY = "sync_ab12", "2024-05-01"


class RecordingDestination(LocalDestination):
    """A real local folder that also remembers the order of writes."""

    def __init__(self, root: Path) -> None:
        super().__init__(parse_destination(str(root)))
        self.writes: list[str] = []

    def put_file(self, key, path, content_type=None):  # type: ignore[no-untyped-def]
        self.writes.append(key)
        super().put_file(key, path, content_type)

    def put_bytes(self, key, data, content_type=None):  # type: ignore[no-untyped-def]
        self.writes.append(key)
        super().put_bytes(key, data, content_type)


def stage(staged: Path) -> StageResult:
    return StageResult(
        sync_id=SYNC, workspace_id="ws_1", day=DAY, extracted=3, valid=3, quarantined=0,
        by_type={}, reasons={}, duplicate_ids=[], invalid_share=0.0, max_invalid_share=0.05,
        fingerprint={"rows": 3, "max_received_at": 1, "checksum": "1:1"}, blocked_reason=None,
        staged_path=str(staged), quarantine_path=None, compression="zstd", seconds=0.0,
        rows_per_second=0.0,
    )  # fmt: skip


def test_manifest_is_written_last_and_lists_exactly_the_days_files(staged, tmp_path):
    dest = RecordingDestination(tmp_path / "out")
    result = export_day(stage(staged), ["parquet", "csv", "jsonl"], "auto", dest)
    assert dest.writes[-1] == layout.manifest_key(SYNC, DAY) == result.manifest_key
    manifest = json.loads((tmp_path / "out" / result.manifest_key).read_text())
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out" / SYNC).rglob("part-*")
    )
    assert sorted(f["key"] for f in manifest["files"]) == written
    assert [(f["format"], f["compression"]) for f in manifest["files"]] == [
        ("parquet", "zstd"),
        ("csv", "gzip"),
        ("jsonl", "gzip"),
    ]
    assert manifest["rows"] == 3 and manifest["export_id"] == result.export_id


def test_reexport_removes_parts_of_other_codecs_formats_and_the_legacy_folder(staged, tmp_path):
    dest = RecordingDestination(tmp_path / "out")
    legacy = layout.legacy_day_folder(SYNC, DAY)
    dest.put_bytes(legacy + "part-00000.parquet", b"old")
    dest.put_bytes(layout.legacy_manifest_key(SYNC, DAY), b"{}")
    first = export_day(stage(staged), ["parquet", "csv"], "zstd", dest)
    assert sorted(first.stale_removed) == [legacy + "_manifest.json", legacy + "part-00000.parquet"]
    result = export_day(stage(staged), ["parquet"], "gzip", dest)
    assert result.stale_removed == [layout.part_key(SYNC, "csv", DAY, "zstd")]
    parts = sorted(p.name for p in (tmp_path / "out" / SYNC).rglob("part-*"))
    assert parts == ["part-00000.parquet"]


def test_local_files_get_the_mode_the_umask_gives(staged, tmp_path):
    old = os.umask(0o022)
    try:
        result = export_day(
            stage(staged), ["parquet", "csv"], "auto", RecordingDestination(tmp_path)
        )
    finally:
        os.umask(old)
    for key in [f.key for f in result.files] + [result.manifest_key]:
        assert stat.S_IMODE((tmp_path / key).stat().st_mode) == 0o644, key


def test_blocked_day_is_not_exported(staged, tmp_path):
    from eventsync.engine.day_export import ExportBlocked

    blocked = stage(staged)
    blocked.blocked_reason = "too many invalid rows"
    with pytest.raises(ExportBlocked, match="too many invalid rows"):
        export_day(blocked, ["parquet"], "auto", RecordingDestination(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_staging_summary_is_read_under_the_lock(engine, tmp_path):
    """An erasure cleaned the staged day after the caller read its summary (issue 20:
    manifest and ledger 40 rows higher than the files): the export counts the rows it
    writes."""
    from sqlalchemy import select

    from eventsync.engine import staging
    from eventsync.engine.day_export import export_partition
    from eventsync.store.schema import export_ledger
    from eventsync.workspaces import create_workspace
    from tests.factories import insert_day

    ws = create_workspace(engine, "acme").workspace_id
    insert_day(engine, ws, DAY, 26)
    stale = staging.stage_day(str(engine.url), engine, SYNC, ws, DAY)
    _files, removed = staging.remove_subjects("staging", [SYNC], {"user-3"}, set())
    assert removed == 2  # rows 3 and 16
    dest = RecordingDestination(tmp_path / "out")
    result = export_partition(engine, stale, ["parquet", "csv"], "none", dest)
    doc = json.loads((tmp_path / "out" / result.manifest_key).read_text())
    assert result.rows == doc["rows"] == 24
    assert all(f["rows"] == 24 for f in doc["files"])
    with engine.connect() as conn:
        assert conn.execute(select(export_ledger.c.rows)).scalar_one() == 24


def test_an_empty_day_writes_no_data_file_and_its_manifest_says_0_rows(staged, tmp_path):
    import pyarrow.parquet as pq

    from tests.eventsync.engine.conftest import staged_table

    out = tmp_path / "out"
    dest = RecordingDestination(out)
    export_day(stage(staged), ["parquet", "csv", "jsonl"], "gzip", dest)  # the day had rows
    empty = tmp_path / "empty.parquet"
    pq.write_table(staged_table().slice(0, 0), empty, compression="zstd")
    result = export_day(stage(empty), ["parquet", "csv", "jsonl"], "gzip", dest)
    assert (result.rows, result.files, result.bytes) == (0, [], 0)
    manifest = json.loads((out / result.manifest_key).read_text())
    assert (manifest["rows"], manifest["files"]) == (0, [])
    # The day's earlier parts are gone: a folder reader finds no file for it at all.
    assert [p for p in (out / SYNC).rglob("*") if p.is_file() and "_manifests" not in p.parts] == []
