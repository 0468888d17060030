"""Parquet: the codec is read from the file; re-encoding goes row group by row group
and keeps every row and type; erasure keeps the file's codec."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from eventsync.engine.formats import handler
from eventsync.engine.formats.parquet import parquet_codec

PARQUET = handler("parquet")


def test_the_codec_is_read_from_the_file(staged: Path, tmp_path: Path) -> None:
    assert parquet_codec(staged) == "zstd"
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(staged), plain, compression="none")
    assert parquet_codec(plain) == "none"


def test_re_encoding_keeps_rows_and_schema(staged: Path, tmp_path: Path) -> None:
    out = tmp_path / "part-00000.parquet"
    PARQUET.render(staged, "snappy", out)
    assert parquet_codec(out) == "snappy"
    assert pq.read_table(out).equals(pq.read_table(staged))


def test_erasure_keeps_the_codec_and_counts_what_it_removed(staged: Path, tmp_path: Path) -> None:
    out = tmp_path / "kept.parquet"
    assert PARQUET.filter_subjects(staged, {"u1"}, set(), out) == (1, 2)
    assert parquet_codec(out) == "zstd"
    assert PARQUET.count(out, {"u1"}, set()) == (1, 0)
