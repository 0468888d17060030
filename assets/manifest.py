"""A day's manifest: the list of its files (key, format, codec, rows, bytes, sha256),
the schema version, the export id and the source fingerprint. It is written after
the files it lists, so a reader that trusts only manifest-listed files never sees a
half-written day."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from assets import layout
from assets.event_schema import SCHEMA_VERSION
from resources.destinations.base import Destination

CONTENT_TYPE = "application/json"


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
) -> dict[str, Any]:
    """The manifest of a day (`rows`: the rows of each file, every format holds the
    same rows); the export id is a digest of the file list."""
    return {
        "export_id": layout.export_id(SCHEMA_VERSION, files),
        "sync_id": sync_id,
        "workspace_id": workspace_id,
        "date": day,
        "schema_version": SCHEMA_VERSION,
        "rows": rows,
        "quarantined": quarantined,
        "files": files,
        "source_fingerprint": fingerprint,
    }


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
