"""The export formats, one handler each (loaded on first use, so the CLI can list
formats without importing Arrow), and how a sync's compression setting maps to each
format's codec.

A sync has one `compression` setting:

- `auto` (the default): each format's own default -- zstd for Parquet, gzip for CSV
  and JSON lines (gzip is what BigQuery and pyarrow.dataset read).
- `zstd`, `gzip`, `none`: that codec for every format.
- `snappy`: Parquet only (a sync with CSV or JSON lines cannot choose it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eventsync.engine.formats.format_handler import FormatHandler

# Format -> the codecs it can carry, its default first.
CODECS: dict[str, tuple[str, ...]] = {
    "parquet": ("zstd", "snappy", "gzip", "none"),
    "csv": ("gzip", "zstd", "none"),
    "jsonl": ("gzip", "zstd", "none"),
}
_HANDLERS = {
    "parquet": ("eventsync.engine.formats.parquet", "ParquetFormat"),
    "csv": ("eventsync.engine.formats.csv", "CsvFormat"),
    "jsonl": ("eventsync.engine.formats.jsonl", "JsonLinesFormat"),
}
FORMATS = tuple(CODECS)
AUTO = "auto"
COMPRESSIONS = (AUTO, "zstd", "gzip", "snappy", "none")
_loaded: dict[str, FormatHandler] = {}


def handler(fmt: str) -> FormatHandler:
    if fmt not in _HANDLERS:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    if fmt not in _loaded:
        module, name = _HANDLERS[fmt]
        _loaded[fmt] = getattr(importlib.import_module(module), name)()
    return _loaded[fmt]


def compression_error(formats: list[str], compression: str) -> str | None:
    """Why `compression` cannot apply to these formats (None: it can)."""
    if compression not in COMPRESSIONS:
        return f"unknown compression {compression!r}; choose from {', '.join(COMPRESSIONS)}"
    if compression == AUTO:
        return None
    refused = [f for f in formats if compression not in CODECS[f]]
    if refused:
        takes = ", ".join(f for f in FORMATS if compression in CODECS[f])
        return (
            f"{compression} applies to {takes} only, not {', '.join(refused)}; "
            "use auto, zstd, gzip or none"
        )
    return None


def codec_for(fmt: str, compression: str) -> str:
    """The codec a format is written with under a sync's compression setting."""
    problem = compression_error([fmt], compression)
    if problem:
        raise ValueError(problem)
    return CODECS[fmt][0] if compression == AUTO else compression


def staging_codec(formats: list[str], compression: str) -> str:
    """The staged file's codec: the exported Parquet's (so exporting it is a byte copy),
    else zstd."""
    return codec_for("parquet", compression) if "parquet" in formats else "zstd"
