"""A day's manifest: the list of its files (key, format, codec, rows, bytes, sha256),
the schema version, the export id and the source fingerprint. It is written after
the files it lists, so a reader that trusts only manifest-listed files never sees a
half-written day.

`status` is `complete`, `partial`, or `rewriting` while a re-export replaces the day's
files: a re-export (eventsync/engine/day_export.py) writes that marker, listing no file,
before it replaces the first file, so a failed re-export (a full disk, a kill between
two files) leaves a day that the readers' recipes skip (docs/destinations.md) until the
next run writes the complete manifest.

`partial` is an intraday export of the current UTC day (hourly syncs): the files hold
the day's events received at or before `complete_through` (the run's cut-off instant);
`high_water_mark` is the newest `received_at` among them. The next intraday export
replaces it at the same keys; the export of the closed day marks the day `complete`.
`filters` (when the sync has any) are the event-type and event-name filters the rows
were read with."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eventsync.clock import from_us
from eventsync.destinations.interface import Destination
from eventsync.engine import layout
from eventsync.engine.event_schema import SCHEMA_VERSION

CONTENT_TYPE = "application/json"
COMPLETE = "complete"
PARTIAL = "partial"
REWRITING = "rewriting"


@dataclass
class ManifestFile:
    key: str
    format: str
    compression: str
    rows: int
    bytes: int
    sha256: str


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe(path: Path, key: str, fmt: str, codec: str, rows: int) -> ManifestFile:
    """The manifest entry of a local file about to be (or just) uploaded under `key`."""
    return ManifestFile(key, fmt, codec, rows, path.stat().st_size, sha256_of(path))


def document(
    sync_id: str,
    workspace_id: str,
    day: str,
    rows: int,
    quarantined: int,
    fingerprint: dict[str, Any],
    files: list[dict[str, Any]],
    filters: dict[str, Any] | None = None,
    received_through: int | None = None,
) -> dict[str, Any]:
    """The manifest of a day (`rows`: the rows of each file, every format holds the
    same rows); the export id is a digest of the file list. With `received_through`
    (µs), a `partial` day holding the rows received up to that instant."""
    doc = {
        "export_id": layout.export_id(SCHEMA_VERSION, files),
        "sync_id": sync_id,
        "workspace_id": workspace_id,
        "date": day,
        "schema_version": SCHEMA_VERSION,
        "rows": rows,
        "quarantined": quarantined,
        "files": files,
        "source_fingerprint": fingerprint,
        "status": COMPLETE,
    }
    if filters and any(v is not None for v in filters.values()):
        doc["filters"] = filters
    if received_through is not None:
        newest = fingerprint.get("max_received_at")
        doc["status"] = PARTIAL
        doc["complete_through"] = instant(received_through)
        doc["high_water_mark"] = instant(newest) if newest is not None else None
    return doc


def instant(us: int) -> str:
    """An instant in µs since the epoch as ISO 8601 UTC with microseconds."""
    return from_us(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_partial(doc: dict[str, Any]) -> bool:
    return doc.get("status") == PARTIAL


# What a rewrite of the day's files (erasure) keeps of the manifest it replaces.
_CARRIED = ("filters", "complete_through", "high_water_mark")


def carry_over(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` (a rewritten day's manifest) with the completeness and filters of `old`: an
    erasure of a partial day leaves it partial, with its cut-off."""
    for key in _CARRIED:
        if key in old:
            new[key] = old[key]
    if is_partial(old):
        new["status"] = PARTIAL
    return new


def rewriting_marker(sync_id: str, workspace_id: str, day: str) -> dict[str, Any]:
    """The manifest of a day whose files a re-export is replacing: it lists none."""
    doc = document(sync_id, workspace_id, day, 0, 0, {}, [])
    doc["status"] = REWRITING
    doc["note"] = "a re-export is replacing this day's files; read it once status is complete"
    return doc


def is_rewriting(doc: dict[str, Any]) -> bool:
    return doc.get("status") == REWRITING


def write(destination: Destination, key: str, doc: dict[str, Any]) -> None:
    body = (json.dumps(doc, sort_keys=True, indent=2) + "\n").encode()
    destination.put_bytes(key, body, content_type=CONTENT_TYPE)


def read(destination: Destination, sync_id: str, day: str) -> tuple[str, dict[str, Any]] | None:
    """(key, document) of the day's manifest, in the current layout or the legacy one;
    None when the day has none. Raises PermissionError on a destination we may not
    read."""
    for key in (layout.manifest_key(sync_id, day), layout.legacy_manifest_key(sync_id, day)):
        try:
            return key, json.loads(destination.get_bytes(key))
        except FileNotFoundError:
            continue
    return None


def as_dicts(files: list[ManifestFile]) -> list[dict[str, Any]]:
    return [asdict(f) for f in files]
