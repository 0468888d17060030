"""What CSV and JSON lines share: a stream codec named by the file suffix, and the
timestamp text both write (the UTC instant, microseconds, `Z`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from eventsync.engine.formats.format_handler import FormatHandler

SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": ""}
# ISO-8601 UTC with microseconds, e.g. 2024-05-01T23:59:59.999999Z.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def select_rendered(staged: Path) -> str:
    """SELECT of a Parquet file's columns with timestamps as UTC text. Formatted from
    the µs integer, so the process or DuckDB session time zone cannot shift them."""
    cols = []
    for field in pq.read_schema(staged):
        if pa.types.is_timestamp(field.type):
            cols.append(
                f"strftime(make_timestamp(epoch_us({field.name})), '{TIMESTAMP_FORMAT}')"
                f" AS {field.name}"
            )
        else:
            cols.append(field.name)
    return f"SELECT {', '.join(cols)} FROM read_parquet({sql_path(staged)})"


class TextFormat(FormatHandler):
    """A row-per-line format with an optional stream codec."""

    def file_suffix(self, codec: str) -> str:
        return f".{self.extension}{SUFFIX[codec]}"

    def detect_codec(self, path: Path) -> str:
        for codec, suffix in SUFFIX.items():
            if suffix and path.name.endswith(suffix):
                return codec
        return "none"
