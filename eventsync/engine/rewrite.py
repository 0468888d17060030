"""Erasure's work on one exported day: rewrite every file the day's manifest lists
without some subjects (same keys, each file in its own format), then the new
manifest, the ledger row and the subject index -- and the verification read of a
rewritten day. Days in the legacy layout are found through their manifest or, when
that is gone, the ledger's file list.

The rewrite is a writer of the day like an export (eventsync/store/fencing.py): it
takes the day's next generation before it reads anything, so an export that began
before it can no longer publish; it re-asserts its locks and checks that generation
before each upload, and publishes the manifest, the ledger row and the index in one
fenced transaction. A day marked `rewriting` by a failed re-export lists no file: its
parts are filtered in place like any unlisted part, and its manifest stays the marker
until the export's next run completes the day."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from eventsync import checkpoints
from eventsync.clock import now_iso
from eventsync.destinations.interface import Destination
from eventsync.engine import export_records, layout, manifest
from eventsync.engine.formats import FORMATS, handler
from eventsync.store import fencing


@dataclass
class DayRewrite:
    day: str
    rows_removed: int = 0
    files_written: int = 0
    keys: list[str] = field(default_factory=list)


def _download(dest: Destination, key: str, workdir: Path) -> Path | None:
    """The object under `key` as a local file named like it (codec detection reads
    the name); None when it is gone."""
    try:
        data = dest.get_bytes(key)
    except FileNotFoundError:
        return None
    path = workdir / ("in-" + key.rsplit("/", 1)[-1])
    path.write_bytes(data)
    return path


def _current(engine: Engine, dest: Destination, sync_id: str, day: str) -> tuple[str, dict] | None:
    """(manifest key, manifest) of the day: the destination's, else rebuilt from the
    ledger (a manifest lost or never written), stored where new manifests go."""
    found = manifest.read(dest, sync_id, day)
    if found is not None:
        return found
    files = export_records.exported_files(engine, sync_id, day)
    if not files:
        return None
    return layout.manifest_key(sync_id, day), {"files": files, "sync_id": sync_id, "date": day}


def _unlisted_parts(
    dest: Destination, sync_id: str, day: str, listed: set[str]
) -> list[tuple[str, str]]:
    """(key, format) of part files of the day that no manifest lists: what an export
    killed between its first upload and its manifest leaves. Found by listing the day's
    folders, or, where listing is refused, by trying every key the layout can give."""
    candidates = layout.candidate_part_keys(sync_id, day)
    try:
        present = {
            key for folder in layout.day_folders(sync_id, day, FORMATS) for key in dest.list(folder)
        }
        candidates = [(key, fmt) for key, fmt in candidates if key in present]
    except PermissionError:
        pass  # each candidate is tried by reading it (a missing one is skipped)
    return [(key, fmt) for key, fmt in candidates if key not in listed]


def _filter_unlisted(
    dest: Destination,
    parts: list[tuple[str, str]],
    users: set[str],
    companies: set[str],
    workdir: Path,
    result: DayRewrite,
    fence: fencing.Fence,
) -> None:
    """Filter the subjects out of files no manifest lists, in place (they stay
    unlisted: the export's rerun replaces them and writes the manifest)."""
    for key, fmt_name in parts:
        src = _download(dest, key, workdir)
        if src is None:
            continue
        fmt = handler(fmt_name)
        out = workdir / ("out-" + src.name.removeprefix("in-"))
        _kept, removed = fmt.filter_subjects(src, users, companies, out)
        if removed:
            fence.check()
            dest.put_file(key, out, content_type=fmt.content_type)
            checkpoints.reached("rewrite.uploaded", sync_id=fence.sync_id, day=fence.day, key=key)
            result.rows_removed = max(result.rows_removed, removed)
            result.files_written += 1
            result.keys.append(key)


def day_rows(engine: Engine, dest: Destination, sync_id: str, day: str) -> int | None:
    """The rows the day's manifest (or, without one, the ledger) says each file holds."""
    found = _current(engine, dest, sync_id, day)
    rows = found[1].get("rows") if found is not None else None
    return int(rows) if rows is not None else None


def rewrite_day(
    engine: Engine,
    dest: Destination,
    sync_id: str,
    day: str,
    users: set[str],
    companies: set[str],
    request_id: str,
) -> DayRewrite:
    """Filter the subjects out of every manifest-listed file of the day, upload the
    files that changed under their keys, then the new manifest; update the ledger
    and drop the subjects from the day's index. Raises PermissionError when the
    destination refuses to be read or written."""
    result = DayRewrite(day)
    fence = fencing.take(engine, sync_id, day, f"erasure {request_id}")
    checkpoints.reached("rewrite.fenced", sync_id=sync_id, day=day)
    found = _current(engine, dest, sync_id, day)
    if found is not None and manifest.is_rewriting(found[1]):
        found = None  # a re-export's marker: every part is unlisted
    if found is not None:
        key, doc = found
        new_files: list[dict[str, Any]] = []
        kept_rows = None
        # A listed file whose bytes are not what the manifest says (a re-export killed
        # between its uploads and its manifest): the new manifest describes the files.
        stale = False
        with tempfile.TemporaryDirectory(prefix="eventsync-erase-") as tmp:
            for f in doc.get("files", []):
                src = _download(dest, f["key"], Path(tmp))
                if src is None:
                    continue
                fmt = handler(f["format"])
                out = Path(tmp) / ("out-" + src.name.removeprefix("in-"))
                kept, removed = fmt.filter_subjects(src, users, companies, out)
                kept_rows = kept if kept_rows is None else kept_rows
                result.rows_removed = max(result.rows_removed, removed)
                body = src
                if removed:
                    fence.check()
                    dest.put_file(f["key"], out, content_type=fmt.content_type)
                    checkpoints.reached("rewrite.uploaded", sync_id=sync_id, day=day, key=f["key"])
                    result.files_written += 1
                    result.keys.append(f["key"])
                    body = out
                entry = manifest.describe(body, f["key"], f["format"], fmt.detect_codec(body), kept)
                stale = stale or (not removed and entry.sha256 != f.get("sha256"))
                new_files.append(manifest.as_dicts([entry])[0])
        # A file filtered by an attempt that died before the manifest (or the ledger row)
        # was written leaves them stale: rewrite them too, so they match the files.
        stale = stale or new_files != export_records.exported_files(engine, sync_id, day)
        if result.files_written or stale:
            new = manifest.document(
                sync_id,
                doc.get("workspace_id", ""),
                day,
                kept_rows or 0,
                doc.get("quarantined", 0),
                doc.get("source_fingerprint", {}),
                new_files,
            )
            manifest.carry_over(doc, new)
            erasures = list(doc.get("erasures", []))
            if not any(e.get("request_id") == request_id for e in erasures):  # a resumed attempt
                erasures.append(
                    {"request_id": request_id, "rows_removed": result.rows_removed, "at": now_iso()}
                )
            new["erasures"] = erasures
            fence.check()
            fence.publish(lambda conn: _publish(conn, dest, key, new))
            result.files_written += 1
            checkpoints.reached("rewrite.published", sync_id=sync_id, day=day)
    listed = {f["key"] for f in (found[1].get("files", []) if found else [])}
    with tempfile.TemporaryDirectory(prefix="eventsync-erase-") as tmp:
        _filter_unlisted(
            dest,
            _unlisted_parts(dest, sync_id, day, listed),
            users,
            companies,
            Path(tmp),
            result,
            fence,
        )
    fence.publish(
        lambda conn: export_records.drop_subjects(
            conn, sync_id, day, sorted(users), sorted(companies)
        )
    )
    return result


def _publish(conn: Any, dest: Destination, key: str, doc: dict[str, Any]) -> None:
    """Inside the fenced transaction: the ledger row, then the manifest (a failed
    upload rolls the row back)."""
    export_records.write_rewrite(conn, doc)
    manifest.write(dest, key, doc)


def verify_day(
    dest: Destination, sync_id: str, day: str, users: set[str], companies: set[str]
) -> tuple[int, list[str]]:
    """(files read, problems): re-read the day's manifest and every file it lists, and
    any part file no manifest lists (a killed export's); a problem is a file that still
    holds a subject, or a listed file that differs from its manifest entry."""
    found = manifest.read(dest, sync_id, day)
    listed = found[1]["files"] if found is not None else []
    problems: list[str] = []
    read = 1 if found is not None else 0
    with tempfile.TemporaryDirectory(prefix="eventsync-verify-") as tmp:
        for key, fmt in _unlisted_parts(dest, sync_id, day, {f["key"] for f in listed}):
            src = _download(dest, key, Path(tmp))
            if src is None:
                continue
            read += 1
            hits = handler(fmt).count(src, users, companies)[1]
            if hits:
                problems.append(f"{dest.describe(key)}: {hits} rows (not in a manifest)")
        for f in listed:
            src = _download(dest, f["key"], Path(tmp))
            read += 1
            where = dest.describe(f["key"])
            if src is None:
                problems.append(f"{where}: missing")
                continue
            rows, hits = handler(f["format"]).count(src, users, companies)
            if hits:
                problems.append(f"{where}: {hits} rows")
            if manifest.sha256_of(src) != f["sha256"] or rows != f["rows"]:
                problems.append(f"{where}: does not match its manifest")
    return read, problems
