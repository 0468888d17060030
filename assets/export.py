"""Write a staged partition to its destination, exactly once.

Keys come from assets/layout.py: one folder per format, the day's manifest outside
the data folders, written after every file it lists. Keys are deterministic, so a
retried or re-synced day overwrites its files instead of adding new ones: a reader
that lists a folder never sees two generations, even on write-only credentials.
Files the new manifest does not list (formats the sync no longer writes, other
codecs, days still in the legacy layout) are removed afterwards when the
destination grants list/delete; they are never in the manifest. The export id is
a digest of the content, so the same input gives byte-identical files, manifest
included.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assets import layout, manifest
from assets.formats import FORMATS, codec_for, handler
from assets.manifest import ManifestFile
from assets.staging import StageResult
from assets.tables import table_definitions
from resources.destinations.base import Destination


class ExportBlocked(Exception):
    """The partition's validation blocked its export (reason in the message)."""


@dataclass
class ExportResult:
    sync_id: str
    day: str
    export_id: str
    rows: int
    quarantined: int
    bytes: int
    files: list[ManifestFile]
    manifest_key: str
    manifest: dict[str, Any]
    stale_removed: list[str]
    stale_cleanup: str  # done | not permitted
    seconds: float


def export_day(
    stage: StageResult, formats: list[str], compression: str, destination: Destination
) -> ExportResult:
    """Render each format, upload the parts, then the manifest, then remove stale parts."""
    if stage.blocked_reason:
        raise ExportBlocked(
            f"partition {stage.day}|{stage.sync_id} is blocked by validation: "
            f"{stage.blocked_reason}"
        )
    started = time.perf_counter()
    staged = Path(stage.staged_path)
    files: list[ManifestFile] = []
    with tempfile.TemporaryDirectory(prefix="eventsync-export-") as tmp:
        for fmt in formats:
            codec = codec_for(fmt, compression)
            key = layout.part_key(stage.sync_id, fmt, stage.day, codec)
            local = Path(tmp) / key.rsplit("/", 1)[1]
            handler(fmt).render(staged, codec, local)
            destination.put_file(key, local, content_type=handler(fmt).content_type)
            files.append(manifest.describe(local, key, fmt, codec, stage.valid))
    doc = manifest.document(
        stage.sync_id,
        stage.workspace_id,
        stage.day,
        stage.valid,
        stage.quarantined,
        stage.fingerprint,
        manifest.as_dicts(files),
    )
    manifest_key = layout.manifest_key(stage.sync_id, stage.day)
    manifest.write(destination, manifest_key, doc)
    removed, cleanup = remove_stale(destination, stage.sync_id, stage.day, files)
    return ExportResult(
        sync_id=stage.sync_id,
        day=stage.day,
        export_id=doc["export_id"],
        rows=stage.valid,
        quarantined=stage.quarantined,
        bytes=sum(f.bytes for f in files),
        files=files,
        manifest_key=manifest_key,
        manifest=doc,
        stale_removed=removed,
        stale_cleanup=cleanup,
        seconds=time.perf_counter() - started,
    )


def remove_stale(
    destination: Destination, sync_id: str, day: str, files: list[ManifestFile]
) -> tuple[list[str], str]:
    """Delete files of the day that the new manifest does not list, in every format's
    folder and the legacy one (best effort: a write-only destination keeps them, and
    they are never in the manifest)."""
    keep = {f.key for f in files}
    try:
        stale = [
            key
            for folder in layout.day_folders(sync_id, day, FORMATS)
            for key in destination.list(folder)
            if key not in keep
        ]
        if stale:
            destination.delete(stale)
    except PermissionError:
        return [], "not permitted"
    return stale, "done"


def write_schema_doc(destination: Destination, sync_id: str, formats: list[str]) -> None:
    """`_schema.json` and the table definitions beside it, at the sync's root
    (deterministic content, so rewriting them is a no-op for readers)."""
    for key, body, content_type in table_definitions(destination.uri, sync_id, formats):
        destination.put_bytes(key, body.encode(), content_type=content_type)
