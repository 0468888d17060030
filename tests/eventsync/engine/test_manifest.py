"""A day's manifest lists every file with rows, bytes and sha256; its export id is a
digest of that list; it is read back from the current layout or the legacy one."""

from __future__ import annotations

import hashlib
from pathlib import Path

from eventsync.destinations import LocalDestination, parse_destination
from eventsync.engine import layout, manifest
from eventsync.engine.event_schema import SCHEMA_VERSION


def _dest(root: Path) -> LocalDestination:
    return LocalDestination(parse_destination(str(root)))


def test_a_file_is_described_by_its_size_and_sha256(tmp_path: Path) -> None:
    part = tmp_path / "part.csv"
    part.write_bytes(b"event_id\r\ne1\r\n")
    entry = manifest.describe(part, "s/csv/events/date=2024-05-01/part-00000.csv", "csv", "none", 1)
    assert (entry.rows, entry.bytes) == (1, 14)
    assert entry.sha256 == hashlib.sha256(b"event_id\r\ne1\r\n").hexdigest()


def test_the_export_id_changes_with_the_files_and_only_with_them() -> None:
    files = [
        {"key": "k", "format": "csv", "compression": "none", "rows": 1, "bytes": 9, "sha256": "a"}
    ]
    doc = manifest.document("sync_a", "ws_1", "2024-05-01", 1, 0, {"rows": 1}, files)
    again = manifest.document("sync_a", "ws_1", "2024-05-01", 1, 0, {"rows": 2}, files)
    other = manifest.document(
        "sync_a", "ws_1", "2024-05-01", 1, 0, {"rows": 1}, [{**files[0], "sha256": "b"}]
    )
    assert doc["export_id"] == again["export_id"] != other["export_id"]
    assert doc["schema_version"] == SCHEMA_VERSION and doc["files"] == files


def test_written_then_read_back_from_the_days_manifest_key(tmp_path: Path) -> None:
    doc = manifest.document("sync_a", "ws_1", "2024-05-01", 0, 0, {}, [])
    manifest.write(_dest(tmp_path), layout.manifest_key("sync_a", "2024-05-01"), doc)
    assert manifest.read(_dest(tmp_path), "sync_a", "2024-05-01") == (
        "sync_a/_manifests/date=2024-05-01.json",
        doc,
    )


def test_a_legacy_manifest_is_found_and_a_missing_one_is_none(tmp_path: Path) -> None:
    doc = manifest.document("sync_a", "ws_1", "2023-01-01", 0, 0, {}, [])
    manifest.write(_dest(tmp_path), layout.legacy_manifest_key("sync_a", "2023-01-01"), doc)
    assert manifest.read(_dest(tmp_path), "sync_a", "2023-01-01") == (
        "sync_a/events/date=2023-01-01/_manifest.json",
        doc,
    )
    assert manifest.read(_dest(tmp_path), "sync_a", "2023-01-02") is None
