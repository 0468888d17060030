"""Each format handler: its file names, rendering from the staged file (values and
UTC timestamps exactly), the erasure filter and the verification count."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from eventsync.engine.formats import (
    CODECS,
    COMPRESSIONS,
    FORMATS,
    codec_for,
    compression_error,
    handler,
    staging_codec,
)
from eventsync.engine.formats.parquet import parquet_codec
from tests.eventsync.engine.conftest import staged_rows
from tests.readers import csv_rows

TEXT = [("csv", c) for c in CODECS["csv"]] + [("jsonl", c) for c in CODECS["jsonl"]]
FIRST, LAST = "2024-05-01T00:00:00.000000Z", "2024-05-01T23:59:59.999999Z"


def test_formats_and_compressions_are_listed_once():
    assert FORMATS == ("parquet", "csv", "jsonl")
    assert COMPRESSIONS == ("auto", "zstd", "gzip", "snappy", "none")


@pytest.mark.parametrize(
    ("fmt", "compression", "codec"),
    [
        ("parquet", "auto", "zstd"),
        ("csv", "auto", "gzip"),
        ("jsonl", "auto", "gzip"),
        ("csv", "zstd", "zstd"),
        ("parquet", "snappy", "snappy"),
        ("jsonl", "none", "none"),
    ],
)
def test_compression_setting_maps_to_each_formats_codec(fmt, compression, codec):
    assert codec_for(fmt, compression) == codec


def test_snappy_is_refused_for_text_formats_with_a_reason():
    assert compression_error(["parquet"], "snappy") is None
    assert compression_error(["parquet", "csv"], "snappy") == (
        "snappy applies to parquet only, not csv; use auto, zstd, gzip or none"
    )
    assert "unknown compression 'lz4'" in compression_error(["csv"], "lz4")
    with pytest.raises(ValueError, match="snappy applies to parquet only"):
        codec_for("jsonl", "snappy")


def test_staged_file_takes_the_exported_parquet_codec_else_zstd():
    assert staging_codec(["csv", "parquet"], "gzip") == "gzip"
    assert staging_codec(["csv"], "gzip") == "zstd"


@pytest.mark.parametrize(
    ("fmt", "codec", "suffix"),
    [
        ("parquet", "gzip", ".parquet"),
        ("csv", "gzip", ".csv.gz"),
        ("csv", "zstd", ".csv.zst"),
        ("csv", "none", ".csv"),
        ("jsonl", "gzip", ".jsonl.gz"),
        ("jsonl", "none", ".jsonl"),
    ],
)
def test_file_suffix_names_format_and_stream_codec(fmt, codec, suffix):
    assert handler(fmt).file_suffix(codec) == suffix


def test_content_types():
    assert handler("parquet").content_type == "application/vnd.apache.parquet"
    assert handler("csv").content_type == "text/csv; charset=utf-8"
    assert handler("jsonl").content_type == "application/x-ndjson"


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        handler("xml")


def render(staged: Path, fmt: str, codec: str, tmp_path: Path) -> Path:
    out = tmp_path / f"part-00000{handler(fmt).file_suffix(codec)}"
    handler(fmt).render(staged, codec, out)
    return out


@pytest.mark.parametrize("codec", CODECS["parquet"])
def test_parquet_render_keeps_types_and_takes_the_codec(staged, tmp_path, codec):
    out = render(staged, "parquet", codec, tmp_path)
    assert parquet_codec(out) == codec == handler("parquet").detect_codec(out)
    assert pq.read_table(out).equals(pq.read_table(staged))


def test_parquet_render_with_the_staged_codec_is_a_byte_copy(staged, tmp_path):
    assert render(staged, "parquet", "zstd", tmp_path).read_bytes() == staged.read_bytes()


def _text(value) -> str | None:  # type: ignore[no-untyped-def]
    return None if value is None else str(value)


@pytest.mark.parametrize("codec", CODECS["csv"])
def test_csv_is_rfc4180_with_utc_timestamps_and_null_apart_from_empty(staged, tmp_path, codec):
    out = render(staged, "csv", codec, tmp_path)
    assert handler("csv").detect_codec(out) == codec
    raw = out.read_bytes() if codec == "none" else None
    if codec == "gzip":
        raw = gzip.decompress(out.read_bytes())
    got = csv_rows(out)
    expected = staged_rows()
    assert [r["occurred_at"] for r in got] == [FIRST, LAST, "2024-05-01T12:00:00.000001Z"]
    assert got[2]["received_at"] == "2024-05-02T00:00:00.000005Z"
    for want, row in zip(expected, got, strict=True):
        for name, value in want.items():
            if name not in ("occurred_at", "received_at"):
                assert row[name] == _text(value), name
    if raw is not None:
        lines = raw.split(b"\r\n")
        assert lines[0].startswith(b"event_id,workspace_id,")
        # empty string quoted, NULL empty; the value with a line break stays one field
        assert b',"",' in raw and b",," in raw
        assert b'"say ""hi"", then\r\nleave"' in raw


@pytest.mark.parametrize("codec", CODECS["jsonl"])
def test_jsonl_has_utc_timestamps_null_and_json_text_properties(staged, tmp_path, codec):
    out = render(staged, "jsonl", codec, tmp_path)
    with pa.input_stream(str(out), compression=None if codec == "none" else codec) as s:
        lines = s.read().decode().splitlines()
    got = [json.loads(line) for line in lines]
    assert [r["occurred_at"] for r in got] == [FIRST, LAST, "2024-05-01T12:00:00.000001Z"]
    for want, row in zip(staged_rows(), got, strict=True):
        for name, value in want.items():
            if name not in ("occurred_at", "received_at"):
                assert row[name] == value, name
    assert isinstance(got[1]["properties"], str) and got[1]["nps_score"] == 0


@pytest.mark.parametrize(("fmt", "codec"), [("parquet", "zstd"), *TEXT])
def test_filter_removes_the_subjects_rows_and_keeps_the_codec(staged, tmp_path, fmt, codec):
    src = render(staged, fmt, codec, tmp_path)
    out = tmp_path / f"out{handler(fmt).file_suffix(codec)}"
    assert handler(fmt).count(src, {"u1"}, set()) == (3, 2)
    assert handler(fmt).filter_subjects(src, {"u1"}, set(), out) == (1, 2)
    assert handler(fmt).detect_codec(out) == codec
    assert handler(fmt).count(out, {"u1"}, {"c1"}) == (1, 1)  # e1 is company c1's
    assert handler(fmt).filter_subjects(src, set(), {"c2"}, out) == (2, 1)
    assert handler(fmt).count(out, {"u2"}, set()) == (2, 1)


@pytest.mark.parametrize("codec", CODECS["csv"])
def test_csv_filter_writes_the_rows_that_stay_unchanged(staged, tmp_path, codec):
    src = render(staged, "csv", codec, tmp_path)
    out = tmp_path / f"out{handler('csv').file_suffix(codec)}"
    handler("csv").filter_subjects(src, {"u1"}, set(), out)
    assert csv_rows(out) == [r for r in csv_rows(src) if r["user_id"] != "u1"]


def test_jsonl_filter_copies_kept_lines_byte_for_byte(staged, tmp_path):
    src = render(staged, "jsonl", "none", tmp_path)
    out = tmp_path / "out.jsonl"
    handler("jsonl").filter_subjects(src, {"u1"}, set(), out)
    assert out.read_bytes().splitlines() == src.read_bytes().splitlines()[1:2]
