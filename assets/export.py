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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from assets import layout, ledger, manifest
from assets.formats import FORMATS, codec_for, handler
from assets.manifest import ManifestFile
from assets.staging import StageResult
from assets.tables import table_definitions
from resources.destinations.base import Destination
from resources.locks import default_holder, export_lock, partition_lock


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
    uploads_aborted: list[str] = field(default_factory=list)  # a killed run's, cleaned up


def export_partition(
    engine: Engine,
    stage: StageResult,
    formats: list[str],
    compression: str,
    destination: Destination,
    holder: str = "",
) -> ExportResult:
    """Export one staged partition, crash-safe at every point:

    1. hold the partition alone (a second run of it fails at once, naming the holder),
       then the workspace's export lock (shared);
    2. write-ahead: the staged day's subjects join the day's subject index BEFORE any
       file can become visible, so an erasure visits the day whatever moment this
       process dies at (assets/rewrite.py then finds files with or without manifest);
    3. abort the unfinished multipart uploads a killed run left under the day's
       folders (where the destination lets us list them);
    4. upload the files, then the manifest, then remove stale parts (`export_day`);
    5. the ledger row, and the index narrowed to exactly the exported subjects.
    """
    with (
        partition_lock(engine, stage.sync_id, stage.day, holder or default_holder()),
        # Shared from the write-ahead index to the ledger: no erasure step runs between
        # them (resources/locks.py says why).
        export_lock(engine, stage.workspace_id),
    ):
        subjects = ledger.index_subjects_ahead(engine, stage)
        stale = [
            destination.abort_stale_uploads(folder)
            for folder in layout.day_folders(stage.sync_id, stage.day, formats)
        ]
        result = export_day(stage, formats, compression, destination)
        result.uploads_aborted = [key for s in stale for key in s.aborted]
        ledger.record_export(engine, stage, result, subjects)
        return result


def export_day(
    stage: StageResult, formats: list[str], compression: str, destination: Destination
) -> ExportResult:
    """Render each format, upload the parts, then the manifest, then remove stale parts
    (files only; `export_partition` adds the index, the upload clean-up and the ledger)."""
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
