"""Erasure's work on one exported day: rewrite every file the day's manifest lists
without some subjects (same keys, each file in its own format), then the new
manifest, the ledger row and the subject index -- and the verification read of a
rewritten day. Days in the legacy layout are found through their manifest or, when
that is gone, the ledger's file list."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from assets import layout, ledger, manifest
from assets.formats import handler
from resources.clock import now_iso
from resources.destinations.base import Destination


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
    files = ledger.exported_files(engine, sync_id, day)
    if not files:
        return None
    return layout.manifest_key(sync_id, day), {"files": files, "sync_id": sync_id, "date": day}


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
    found = _current(engine, dest, sync_id, day)
    if found is not None:
        key, doc = found
        new_files: list[dict[str, Any]] = []
        kept_rows = None
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
                    dest.put_file(f["key"], out, content_type=fmt.content_type)
                    result.files_written += 1
                    result.keys.append(f["key"])
                    body = out
                entry = manifest.describe(body, f["key"], f["format"], fmt.detect_codec(body), kept)
                new_files.append(manifest.as_dicts([entry])[0])
        if result.files_written:
            new = manifest.document(
                sync_id,
                doc.get("workspace_id", ""),
                day,
                kept_rows or 0,
                doc.get("quarantined", 0),
                doc.get("source_fingerprint", {}),
                new_files,
            )
            new["erasures"] = [
                *doc.get("erasures", []),
                {"request_id": request_id, "rows_removed": result.rows_removed, "at": now_iso()},
            ]
            manifest.write(dest, key, new)
            result.files_written += 1
            ledger.record_rewrite(engine, new)
    ledger.drop_subjects(engine, sync_id, day, sorted(users), sorted(companies))
    return result


def verify_day(
    dest: Destination, sync_id: str, day: str, users: set[str], companies: set[str]
) -> tuple[int, list[str]]:
    """(files read, problems): re-read the day's manifest and every file it lists; a
    problem is a file that still holds a subject or differs from its manifest entry."""
    found = manifest.read(dest, sync_id, day)
    if found is None:
        return 0, [f"{dest.describe(layout.manifest_key(sync_id, day))}: manifest missing"]
    problems: list[str] = []
    read = 1
    with tempfile.TemporaryDirectory(prefix="eventsync-verify-") as tmp:
        for f in found[1]["files"]:
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
