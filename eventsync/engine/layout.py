"""The export layout: every key eventsync writes under a destination's prefix, and
the export id. Nothing else builds a key.

    {sync_id}/{format}/events/date=YYYY-MM-DD/part-00000.<ext>  data, one format a folder
    {sync_id}/_manifests/date=YYYY-MM-DD.json                   the day's manifest, last
    {sync_id}/_schema.json, _schema.*                           schema, table definitions
    _deletions/<request id>.json                                erasure tombstones
    _privacy/access/<request id>.csv                            access exports

Hive-style `date=` folders make the day a partition column for every reader, and no
metadata file sits inside a data folder, so pointing a reader at
`{sync_id}/parquet/events` reads exactly the Parquet files. Days exported before
this layout live in `{sync_id}/events/date=YYYY-MM-DD/` with `_manifest.json`
inside; erasure and re-export still find them (`legacy_*`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from eventsync.engine.formats import CODECS, handler

PART = "part-00000"
SCHEMA_DOC = "_schema.json"
MANIFESTS = "_manifests"
TABLE = "events"
# Table definitions generated beside _schema.json (engine/table_definitions.py renders
# them).
# `{fmt}` kinds exist once per exported format.
TABLE_DEFINITIONS = {
    "bigquery": "_schema.bigquery.json",
    "spark_schema": "_schema.spark.ddl",
    "spark": "_schema.spark_{fmt}.sql",
    "athena": "_schema.athena_{fmt}.sql",
    "duckdb": "_schema.duckdb_{fmt}.sql",
}


def data_folder(sync_id: str, fmt: str) -> str:
    """The folder a reader points at for one format (its `date=` partitions below)."""
    return f"{sync_id}/{fmt}/{TABLE}/"


def day_folder(sync_id: str, fmt: str, day: str) -> str:
    return f"{data_folder(sync_id, fmt)}date={day}/"


def part_key(sync_id: str, fmt: str, day: str, codec: str) -> str:
    return f"{day_folder(sync_id, fmt, day)}{PART}{handler(fmt).file_suffix(codec)}"


def manifest_key(sync_id: str, day: str) -> str:
    return f"{sync_id}/{MANIFESTS}/date={day}.json"


def legacy_day_folder(sync_id: str, day: str) -> str:
    """Where days exported before the one-format-per-folder layout are (all formats and
    `_manifest.json` in one folder)."""
    return f"{sync_id}/{TABLE}/date={day}/"


def legacy_manifest_key(sync_id: str, day: str) -> str:
    return f"{legacy_day_folder(sync_id, day)}_manifest.json"


def day_folders(sync_id: str, day: str, formats: list[str] | tuple[str, ...]) -> list[str]:
    """Every folder that can hold a part of the day: one per format, and the legacy one."""
    return [day_folder(sync_id, f, day) for f in formats] + [legacy_day_folder(sync_id, day)]


def candidate_part_keys(sync_id: str, day: str) -> list[tuple[str, str]]:
    """(key, format) of every part file the day can have, in any format and codec, in
    this layout or the legacy one: where an export killed before its manifest may
    have left files."""
    out: dict[str, str] = {}
    for fmt, codecs in CODECS.items():
        for folder in (day_folder(sync_id, fmt, day), legacy_day_folder(sync_id, day)):
            for codec in codecs:
                out.setdefault(f"{folder}{PART}{handler(fmt).file_suffix(codec)}", fmt)
    return sorted(out.items())


def schema_key(sync_id: str) -> str:
    return f"{sync_id}/{SCHEMA_DOC}"


def table_definition_key(sync_id: str, kind: str, fmt: str = "") -> str:
    return f"{sync_id}/{TABLE_DEFINITIONS[kind].format(fmt=fmt)}"


def tombstone_key(request_id: str) -> str:
    return f"_deletions/{request_id}.json"


def access_export_key(request_id: str) -> str:
    return f"_privacy/access/{request_id}.csv"


def export_id(schema_version: int, files: list[dict[str, Any]]) -> str:
    """A digest of what a day's manifest lists: the same content gives the same id."""
    body = json.dumps([schema_version, files], sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()[:32]
