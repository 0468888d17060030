"""Write a staged partition to its destination, exactly once.

Layout (DESIGN §6)::

    {prefix}/{sync_id}/events/date=YYYY-MM-DD/part-00000.<ext>   one per format
    {prefix}/{sync_id}/events/date=YYYY-MM-DD/_manifest.json     written last

Keys are deterministic, so a retried or re-synced day overwrites its files instead
of adding new ones: a reader that lists the folder never sees two generations,
even on write-only credentials. Files of formats the sync no longer writes are
removed when the destination grants list/delete; they are never in the manifest.
The export id is a digest of the content, so the same input gives byte-identical
files, manifest included.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import Engine, delete, insert, update

from assets.duck import duck
from assets.event_schema import SCHEMA_VERSION, schema_description
from assets.staging import StageResult, parquet_compression
from resources.clock import now_iso
from resources.destinations.base import Destination
from resources.schema import export_ledger, export_subjects

MANIFEST = "_manifest.json"
SCHEMA_DOC = "_schema.json"
_EXT = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}
_SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": "", "snappy": ""}
_CONTENT_TYPE = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
}


def day_prefix(sync_id: str, day: str) -> str:
    return f"{sync_id}/events/date={day}/"


def part_key(sync_id: str, day: str, fmt: str, compression: str) -> str:
    suffix = "" if fmt == "parquet" else _SUFFIX[compression]
    return f"{day_prefix(sync_id, day)}part-00000.{_EXT[fmt]}{suffix}"


class ExportBlocked(Exception):
    """The partition's validation blocked its export (reason in the message)."""


@dataclass
class ExportedFile:
    key: str
    format: str
    rows: int
    bytes: int
    sha256: str


@dataclass
class ExportResult:
    sync_id: str
    day: str
    export_id: str
    rows: int
    quarantined: int
    bytes: int
    files: list[ExportedFile]
    manifest_key: str
    stale_removed: list[str]
    stale_cleanup: str  # done | not permitted
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def render_format(staged: Path, fmt: str, compression: str, out: Path) -> None:
    """Write the staged Parquet file as `fmt` to `out`, streaming (DuckDB's COPY reads
    the Parquet file in row groups; rows keep their staged order)."""
    if fmt == "parquet":
        if compression == _staged_compression(staged):
            shutil.copyfile(staged, out)
            return
        with (
            pq.ParquetFile(staged) as src,
            pq.ParquetWriter(
                out, src.schema_arrow, compression=parquet_compression(compression)
            ) as writer,
        ):
            for i in range(src.num_row_groups):
                writer.write_table(src.read_row_group(i))
        return
    # Timestamps as ISO-8601 UTC with microseconds, the same text in CSV and JSON lines.
    cols = ", ".join(
        f"strftime({c}, '%Y-%m-%dT%H:%M:%S.%fZ') AS {c}"
        if c in ("occurred_at", "received_at")
        else c
        for c in pq.read_schema(staged).names
    )
    options = "FORMAT CSV, HEADER true" if fmt == "csv" else "FORMAT JSON"
    codec = {"gzip": "gzip", "zstd": "zstd", "none": "none"}[compression]
    src = str(staged).replace("'", "''")
    dst = str(out).replace("'", "''")
    duck().execute(
        f"COPY (SELECT {cols} FROM read_parquet('{src}')) TO '{dst}' "
        f"({options}, COMPRESSION '{codec}')"
    )


def _staged_compression(path: Path) -> str:
    meta = pq.read_metadata(path)
    if meta.num_row_groups == 0:
        return "zstd"
    codec = meta.row_group(0).column(0).compression.lower()
    return {"uncompressed": "none"}.get(codec, codec)


def manifest_document(
    stage: StageResult, files: list[ExportedFile], export_id: str
) -> dict[str, Any]:
    return {
        "export_id": export_id,
        "sync_id": stage.sync_id,
        "workspace_id": stage.workspace_id,
        "date": stage.day,
        "schema_version": SCHEMA_VERSION,
        "rows": stage.valid,
        "quarantined": stage.quarantined,
        "files": [asdict(f) for f in files],
        "source_fingerprint": stage.fingerprint,
    }


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
    files: list[ExportedFile] = []
    with tempfile.TemporaryDirectory(prefix="eventsync-export-") as tmp:
        for fmt in formats:
            key = part_key(stage.sync_id, stage.day, fmt, compression)
            local = Path(tmp) / key.rsplit("/", 1)[1]
            render_format(staged, fmt, compression, local)
            destination.put_file(key, local, content_type=_CONTENT_TYPE[fmt])
            files.append(ExportedFile(key, fmt, stage.valid, local.stat().st_size, _sha256(local)))
    export_id = hashlib.sha256(
        json.dumps([SCHEMA_VERSION, [asdict(f) for f in files]], sort_keys=True).encode()
    ).hexdigest()[:32]
    manifest = manifest_document(stage, files, export_id)
    manifest_key = day_prefix(stage.sync_id, stage.day) + MANIFEST
    destination.put_bytes(
        manifest_key,
        (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode(),
        content_type="application/json",
    )
    removed, cleanup = remove_stale(destination, stage.sync_id, stage.day, files)
    return ExportResult(
        sync_id=stage.sync_id,
        day=stage.day,
        export_id=export_id,
        rows=stage.valid,
        quarantined=stage.quarantined,
        bytes=sum(f.bytes for f in files),
        files=files,
        manifest_key=manifest_key,
        stale_removed=removed,
        stale_cleanup=cleanup,
        seconds=time.perf_counter() - started,
    )


def remove_stale(
    destination: Destination, sync_id: str, day: str, files: list[ExportedFile]
) -> tuple[list[str], str]:
    """Delete files under the day that the new manifest does not list (best effort:
    a write-only destination keeps them, and they are never in the manifest)."""
    keep = {f.key for f in files} | {day_prefix(sync_id, day) + MANIFEST}
    try:
        stale = [k for k in destination.list(day_prefix(sync_id, day)) if k not in keep]
        if stale:
            destination.delete(stale)
    except PermissionError:
        return [], "not permitted"
    return stale, "done"


def write_schema_doc(destination: Destination, sync_id: str) -> None:
    """`_schema.json` at the sync's root (deterministic content, so rewriting is a no-op
    for readers)."""
    destination.put_bytes(
        f"{sync_id}/{SCHEMA_DOC}",
        (json.dumps(schema_description(), indent=2, sort_keys=True) + "\n").encode(),
        content_type="application/json",
    )


def record_export(engine: Engine, stage: StageResult, result: ExportResult) -> None:
    """Ledger row and subject -> days index for the partition, in one transaction."""
    staged = str(Path(stage.staged_path)).replace("'", "''")
    subjects = (
        duck()
        .sql(
            f"SELECT DISTINCT 'user' AS t, user_id AS id FROM read_parquet('{staged}')"
            " UNION SELECT DISTINCT 'company', company_id FROM read_parquet("
            f"'{staged}') WHERE company_id IS NOT NULL"
        )
        .fetchall()
    )
    fp = stage.fingerprint
    with engine.begin() as conn:
        conn.execute(
            delete(export_ledger).where(
                export_ledger.c.sync_id == stage.sync_id, export_ledger.c.day == stage.day
            )
        )
        conn.execute(
            insert(export_ledger).values(
                sync_id=stage.sync_id,
                day=stage.day,
                workspace_id=stage.workspace_id,
                export_id=result.export_id,
                status="exported",
                rows=result.rows,
                quarantined=result.quarantined,
                bytes=result.bytes,
                files=json.dumps([asdict(f) for f in result.files]),
                source_rows=fp["rows"],
                source_max_received_at=fp["max_received_at"],
                source_checksum=fp["checksum"],
                error=None,
                exported_at=now_iso(),
            )
        )
        conn.execute(
            delete(export_subjects).where(
                export_subjects.c.sync_id == stage.sync_id, export_subjects.c.day == stage.day
            )
        )
        rows = [
            {"sync_id": stage.sync_id, "day": stage.day, "subject_type": t, "subject_id": i}
            for t, i in subjects
        ]
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(export_subjects), rows[start : start + 10_000])


def record_failure(engine: Engine, stage: StageResult, error: str) -> None:
    """Mark the partition failed in the ledger, keeping the last good export's numbers
    (its files are still what the manifest at the destination lists)."""
    with engine.begin() as conn:
        updated = conn.execute(
            update(export_ledger)
            .where(export_ledger.c.sync_id == stage.sync_id, export_ledger.c.day == stage.day)
            .values(status="failed", error=error[:2000])
        ).rowcount
        if not updated:
            conn.execute(
                insert(export_ledger).values(
                    sync_id=stage.sync_id,
                    day=stage.day,
                    workspace_id=stage.workspace_id,
                    export_id="",
                    status="failed",
                    rows=0,
                    quarantined=stage.quarantined,
                    bytes=0,
                    files="[]",
                    source_rows=0,
                    error=error[:2000],
                    exported_at=now_iso(),
                )
            )
