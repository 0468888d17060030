"""Parquet: the staged file's own format; compression is inside the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from eventsync.engine.formats.format_handler import (
    SUBJECT_COLUMNS,
    FormatHandler,
    count_subject_rows,
    subject_mask,
)


def parquet_codec(path: Path) -> str:
    """The codec a Parquet file was written with (its first column chunk's)."""
    meta = pq.read_metadata(path)
    if meta.num_row_groups == 0 or meta.num_columns == 0:
        return "zstd"
    codec = meta.row_group(0).column(0).compression.lower()
    return {"uncompressed": "none"}.get(codec, codec)


class ParquetFormat(FormatHandler):
    name = "parquet"
    extension = "parquet"
    content_type = "application/vnd.apache.parquet"

    def file_suffix(self, codec: str) -> str:
        return ".parquet"

    def detect_codec(self, path: Path) -> str:
        return parquet_codec(path)

    def render(self, staged: Path, codec: str, out: Path) -> None:
        """A byte copy when the staged file already has the codec; else row group by
        row group (memory bounded by one row group)."""
        if codec == parquet_codec(staged):
            shutil.copyfile(staged, out)
            return
        with (
            pq.ParquetFile(staged) as src,
            pq.ParquetWriter(out, src.schema_arrow, compression=codec) as writer,
        ):
            for i in range(src.num_row_groups):
                writer.write_table(src.read_row_group(i))

    def filter_subjects(
        self, src: Path, users: set[str], companies: set[str], out: Path
    ) -> tuple[int, int]:
        table = pq.read_table(src)
        kept = table.filter(pc.invert(subject_mask(table, users, companies)))
        pq.write_table(kept, out, compression=parquet_codec(src))
        return kept.num_rows, table.num_rows - kept.num_rows

    def count(self, src: Path, users: set[str], companies: set[str]) -> tuple[int, int]:
        names = pq.read_schema(src).names
        ids = pq.read_table(src, columns=[c for c in SUBJECT_COLUMNS if c in names])
        return ids.num_rows, count_subject_rows(ids, users, companies)
